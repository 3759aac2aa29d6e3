"""A deliberately broken BMI for the real-ngen mass-balance test: it reports 1 micrometre more water
leaving every step than the model lost, so ngen's fatal `mass_balance` check must stop the run."""

from dmg_bmi.bmi import DeltaModelBmi


class LeakyBmi(DeltaModelBmi):
    """DeltaModelBmi whose `ngen::mass_out` is inflated by 1e-6 m per published step."""

    _extra = 0.0

    def _publish(self) -> None:
        super()._publish()
        if "ngen::mass_out" in self._values:
            self._extra += 1e-6
            self._values["ngen::mass_out"][0] += self._extra
