"""``fashionlab app``: a local web page to try the runs (Gradio).

``actions`` does what each tab does, without Gradio; ``page`` lays out the tabs and
``serve`` starts the server (127.0.0.1 unless told otherwise).
"""
