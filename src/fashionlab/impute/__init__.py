"""Imputation: scikit-learn-style imputers (GAN-based and baselines), masking and scoring."""
