"""What a write may replace (issue 27): only a regular file, never a device, a FIFO or a
folder; a symbolic link is written through; a new name is claimed at write time; a full
disk is one error line and leaves nothing behind; every run file follows the umask."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fashionlab
from conftest import write_untrained_classifier_run
from fashionlab.cli import main
from tiny_runs import one_error_line, save_picture, tiny_gan_run, tiny_inpaint_run

CSV = "a,b\n1,2\n,3\n4,\n5,6\n"


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(CSV)
    return path


def impute(capsys, src: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["impute", str(src), "--out", str(out), "--method", "mean", *extra])
    stdout, err = capsys.readouterr()
    return code, stdout, err


def leftovers(folder: Path) -> list[str]:
    """Temporary files a write left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# --------------------------------------------------------------------------- not a regular file


def test_a_fifo_as_out_is_refused_and_left_alone(capsys, csv_file, tmp_path):
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    code, stdout, err = impute(capsys, csv_file, fifo, "--force")
    assert "FIFO" in one_error_line(code, err) and stdout == ""
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and leftovers(tmp_path) == []


def test_a_device_as_out_is_refused_and_left_alone(capsys, csv_file, tmp_path):
    device = tmp_path / "null"  # a second /dev/null: replacing it would harm nothing
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("creating a device node needs CAP_MKNOD")
    code, _, err = impute(capsys, csv_file, device, "--force")
    assert "is a device, not a regular file" in one_error_line(code, err)
    assert stat.S_ISCHR(device.lstat().st_mode)


def test_the_real_dev_null_is_refused_before_any_write():
    from fashionlab.errors import FashionlabError
    from fashionlab.runtime.files import prepare_output_file

    with pytest.raises(FashionlabError, match="is a device"):
        prepare_output_file(os.devnull)  # checks only: nothing is written


def test_a_folder_as_out_is_refused(capsys, csv_file, tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    code, _, err = impute(capsys, csv_file, folder, "--force")
    assert "is a folder" in one_error_line(code, err) and folder.is_dir()


def test_a_symbolic_link_is_written_through_and_kept(capsys, csv_file, tmp_path):
    target = tmp_path / "target.csv"
    target.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    with pytest.warns(UserWarning, match="symbolic link: writing to its target") as said:
        code, stdout, _ = impute(capsys, csv_file, link, "--force")
    assert code == 0 and len(said) == 1  # said once, though the path is checked twice
    assert link.is_symlink() and target.read_text() == "a,b\n1,2\n3,3\n4,4\n5,6\n"


def test_a_link_to_the_input_is_the_input(capsys, csv_file, tmp_path):
    link = tmp_path / "link.csv"
    link.symlink_to(csv_file)
    code, _, err = impute(capsys, csv_file, link, "--force")
    assert "is the input file" in one_error_line(code, err) and csv_file.read_text() == CSV


def test_show_refuses_a_fifo_and_writes_through_a_link(capsys, tmp_path, fashion_dir):
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    code = main(["show", "--n", "4", "--data-dir", str(fashion_dir), "--out", str(fifo)])
    one_error_line(code, capsys.readouterr().err)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    target, link = tmp_path / "target.png", tmp_path / "link.png"
    target.write_bytes(b"old")
    link.symlink_to(target)
    with pytest.warns(UserWarning, match="symbolic link"):
        code = main(["show", "--n", "4", "--data-dir", str(fashion_dir), "--out", str(link)])
    assert code == 0 and link.is_symlink() and target.read_bytes()[:4] == b"\x89PNG"


def test_generate_and_fill_refuse_a_fifo(capsys, tmp_path):
    gan, inpainting = tiny_gan_run(tmp_path / "gan"), tiny_inpaint_run(tmp_path / "inpaint")
    capsys.readouterr()
    fifo = tmp_path / "fifo.png"
    os.mkfifo(fifo)
    for argv in (["generate", str(gan), "--n", "4", "--device", "cpu", "--out", str(fifo)],
                 ["fill", str(inpainting), str(save_picture(tmp_path / "p.png")),
                  "--out", str(fifo)]):
        code = main(argv)
        assert "FIFO" in one_error_line(code, capsys.readouterr().err), argv
        assert stat.S_ISFIFO(fifo.lstat().st_mode)


# --------------------------------------------------------------------------- a new name


def test_a_file_that_appears_during_the_work_is_not_replaced(capsys, csv_file, tmp_path,
                                                             monkeypatch):
    import fashionlab.impute.table as table

    out = tmp_path / "out.csv"
    fit_fill = table.fit_fill

    def other_process_writes_first(*args, **kwargs):
        out.write_text("the other run's result\n")  # after the "exists" check, before the write
        return fit_fill(*args, **kwargs)

    monkeypatch.setattr(table, "fit_fill", other_process_writes_first)
    code, stdout, err = impute(capsys, csv_file, out)
    assert "appeared while this command worked" in one_error_line(code, err)
    assert out.read_text() == "the other run's result\n" and leftovers(tmp_path) == []
    code, _, _ = impute(capsys, csv_file, out, "--force")  # --force replaces it
    assert code == 0 and out.read_text().startswith("a,b\n1,2\n3,3")


# --------------------------------------------------------------------------- modes


def test_every_run_file_follows_the_umask(tmp_path):
    run = write_untrained_classifier_run(tmp_path / "run")
    expected = 0o666 & ~_umask()
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in run.iterdir()}
    assert {"config.json", "model.safetensors"} <= set(modes)
    assert set(modes.values()) == {expected}, modes


def test_a_file_written_over_keeps_its_mode(capsys, csv_file, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("private\n")
    out.chmod(0o600)
    code, _, _ = impute(capsys, csv_file, out, "--force")
    assert code == 0 and stat.S_IMODE(out.stat().st_mode) == 0o600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --------------------------------------------------------------------------- disk full


def test_a_full_disk_is_one_error_line_and_leaves_nothing(capsys, csv_file, tmp_path,
                                                          monkeypatch):
    import fashionlab.runtime.files as files

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full)
    out = tmp_path / "out.csv"
    code, _, err = impute(capsys, csv_file, out)
    assert one_error_line(code, err) == f"error: {out}: No space left on device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_file_size_limit_met_by_the_kernel(tmp_path):
    """A real failed write (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG), in a child process."""
    rows = np.arange(4000, dtype=float).reshape(-1, 2)
    lines = ["a,b"] + [f"{a:g},{b:g}" if i % 7 else f"{a:g}," for i, (a, b) in enumerate(rows)]
    src = tmp_path / "in.csv"
    src.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    limit = src.stat().st_size - 1000  # the input can be read, the output cannot be written
    code = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
        "from fashionlab.cli import main\n"
        f"sys.exit(main(['impute', {str(src)!r}, '--out', {str(out)!r}, '--method', 'mean']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(fashionlab.__file__).parents[1])}  # this one
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert one_error_line(done.returncode, done.stderr) == f"error: {out}: File too large"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_full_disk_while_training_is_one_error_line(capsys, tmp_path, monkeypatch,
                                                      classifier_data):
    import fashionlab.runtime.files as files

    calls = []

    def full_after_two(fd):  # config.json and the metrics log are written, then no more
        calls.append(fd)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files.os, "fsync", full_after_two)
    run = tmp_path / "run"
    code = main(["train", "classifier", "--out", str(run), "--dry-run", "--no-figures",
                 "--n-val", "50", "--device", "cpu", "--threads", "1"])
    line = one_error_line(code, capsys.readouterr().err)
    assert line.startswith(f"error: {run}/") and line.endswith(": No space left on device")
    assert leftovers(run) == []


def test_an_unreadable_input_is_one_error_line(capsys, csv_file, tmp_path, monkeypatch):
    real = Path.read_bytes

    def denied(self):
        if self == csv_file:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    code, _, err = impute(capsys, csv_file, tmp_path / "out.csv")
    assert one_error_line(code, err) == f"error: {csv_file}: Permission denied"


def test_a_new_name_is_claimed_on_a_file_system_without_hard_links(tmp_path, monkeypatch):
    import fashionlab.runtime.files as files
    from fashionlab.errors import FashionlabError

    def no_links(source, target):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(files.os, "link", no_links)
    files.atomic_write_bytes(tmp_path / "new.csv", b"first\n", exclusive=True)
    with pytest.raises(FashionlabError, match="appeared while this command worked"):
        files.atomic_write_bytes(tmp_path / "new.csv", b"second\n", exclusive=True)
    assert (tmp_path / "new.csv").read_bytes() == b"first\n" and leftovers(tmp_path) == []
