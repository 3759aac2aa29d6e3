"""NextGen integration: phase-shifted daily chains, state payloads, realization and BMI-config writers."""
