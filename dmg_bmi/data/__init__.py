"""Datasets shared by the domains: the NetCDF format (`dataset`, `netcdf_read`) and the one table of dataset
variables (`variables`). The CAMELS-US reader and the twins live in their domains (`dmg_bmi.domains.*`)."""
