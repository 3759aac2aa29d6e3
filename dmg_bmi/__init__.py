"""dmg_bmi: differentiable models (NN -> physical parameters -> PyTorch physics) with a NextGen BMI."""

__version__ = "0.1.0"
