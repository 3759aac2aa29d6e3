"""NextGen integration: state payloads, day rings, realization and BMI-config writers, `inspect`."""
