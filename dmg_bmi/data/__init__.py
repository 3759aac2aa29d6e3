"""Datasets: the NetCDF format (`dataset`), the CAMELS-US reader and converter (`camels`),
the synthetic twin (`twin`)."""
