"""Rolling stock: a train's mass, capacity, resistance, traction, braking and auxiliary load.

Defaults describe a six-car metro train calibrated on ``shared/REFERENCE.md``: NYC R160 car
mass (38.6 t empty), APTA load states (AW0..AW4) and passenger mass (70.3 kg), 1.1 m/s^2
acceleration and service braking, 80 km/h in service, Davis resistance scaled by mass from
OSRD's commuter EMU, HVAC of about 40 kW per car at full cooling, and regenerative braking that
recovers roughly a quarter of traction energy over a metro day.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["RollingStock"]

G = 9.81


class RollingStock(BaseModel):
    """A train type. Every figure is per train unless the name says per car."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cars: Annotated[int, Field(ge=1, le=12, description="Cars per train.")] = 6
    tare_mass_per_car_t: Annotated[
        float, Field(gt=0, description="Empty (AW0) mass per car, t (R160: 38.6).")
    ] = 38.6
    seats_per_car: Annotated[int, Field(ge=0, description="Seats per car (R160: 54-56).")] = 55
    standing_area_per_car_m2: Annotated[
        float, Field(ge=0, description="Floor area for standees per car, m^2.")
    ] = 33.0
    aw2_density: Annotated[float, Field(gt=0, description="AW2 standees per m^2 (APTA: 4).")] = 4.0
    aw3_density: Annotated[
        float, Field(gt=0, description="AW3 standees per m^2, the planning load (APTA: 6).")
    ] = 6.0
    aw4_density: Annotated[
        float, Field(gt=0, description="AW4 crush standees per m^2 (APTA: 8).")
    ] = 8.0
    boarding_limit_density: Annotated[
        float, Field(gt=0, description="Standees per m^2 beyond which nobody else boards.")
    ] = 7.0
    passenger_mass_kg: Annotated[
        float, Field(gt=0, le=150, description="Mass of one passenger, kg (APTA: 70.3).")
    ] = 70.3
    davis_a_n: Annotated[float, Field(ge=0, description="Davis A, N.")] = 1800.0
    davis_b_n_per_ms: Annotated[float, Field(ge=0, description="Davis B, N/(m/s).")] = 77.0
    davis_c_n_per_ms2: Annotated[float, Field(ge=0, description="Davis C, N/(m/s)^2.")] = 6.5
    rotating_mass_factor: Annotated[
        float, Field(ge=1.0, le=1.3, description="k_inertia (1.04-1.10).")
    ] = 1.08
    max_tractive_effort_kn: Annotated[
        float, Field(gt=0, description="Tractive effort up to the base speed, kN.")
    ] = 380.0
    base_speed_kmh: Annotated[
        float, Field(gt=0, description="Speed where constant effort turns into constant power.")
    ] = 36.0
    service_brake_ms2: Annotated[
        float, Field(gt=0, le=1.5, description="Service braking deceleration, m/s^2.")
    ] = 1.1
    max_acceleration_ms2: Annotated[
        float, Field(gt=0, le=1.5, description="Acceleration cap (jerk/comfort), m/s^2.")
    ] = 1.1
    top_speed_kmh: Annotated[float, Field(gt=0, le=200, description="Maximum service speed.")] = (
        80.0
    )
    drive_efficiency: Annotated[
        float, Field(gt=0, le=1, description="Collector-to-wheel efficiency.")
    ] = 0.88
    regen_efficiency: Annotated[
        float,
        Field(
            ge=0,
            le=1,
            description="Share of braking energy returned to the line (motor, inverter and line receptivity).",
        ),
    ] = 0.38
    regen_min_speed_kmh: Annotated[
        float, Field(ge=0, description="Below this, friction brakes only.")
    ] = 5.0
    doors_per_car: Annotated[int, Field(ge=1, le=8, description="Doors per car side.")] = 4
    aux_base_kw_per_car: Annotated[
        float, Field(ge=0, description="Lighting, compressors, control, kW per car.")
    ] = 15.0
    hvac_max_kw_per_car: Annotated[
        float, Field(ge=0, description="HVAC electrical draw at full cooling, kW per car (35-45).")
    ] = 40.0
    hvac_comfort_c: Annotated[
        float, Field(description="Outside temperature at which HVAC idles, deg C.")
    ] = 18.0
    hvac_full_c: Annotated[
        float, Field(description="Outside temperature at which cooling is at full power.")
    ] = 35.0

    @model_validator(mode="after")
    def _densities(self) -> RollingStock:
        if not self.aw2_density <= self.aw3_density <= self.aw4_density:
            raise ValueError(
                "standing densities must satisfy aw2_density <= aw3_density <= aw4_density"
            )
        if self.boarding_limit_density > self.aw4_density:
            raise ValueError("boarding_limit_density may not exceed aw4_density (crush load)")
        if self.hvac_full_c <= self.hvac_comfort_c:
            raise ValueError("hvac_full_c must be above hvac_comfort_c")
        return self

    # ---- derived figures --------------------------------------------------------------------
    @property
    def tare_mass_kg(self) -> float:
        """Empty train mass, kg."""
        return self.cars * self.tare_mass_per_car_t * 1000.0

    def _capacity(self, density: float) -> int:
        return int(self.cars * (self.seats_per_car + self.standing_area_per_car_m2 * density))

    @property
    def seated_capacity(self) -> int:
        """AW1: every seat taken."""
        return self.cars * self.seats_per_car

    @property
    def capacity(self) -> int:
        """AW3 planning capacity; load factor 1.0 means this many on board."""
        return self._capacity(self.aw3_density)

    @property
    def boarding_limit(self) -> int:
        """On-board count at which boarding stops."""
        return self._capacity(self.boarding_limit_density)

    @property
    def crush_capacity(self) -> int:
        """AW4: the physical maximum."""
        return self._capacity(self.aw4_density)

    @property
    def doors(self) -> int:
        """Doors on the platform side."""
        return self.cars * self.doors_per_car

    def mass_kg(self, passengers: int | float) -> float:
        """Tare plus passengers, kg."""
        return self.tare_mass_kg + passengers * self.passenger_mass_kg

    @property
    def max_power_w(self) -> float:
        """Wheel power at the end of the constant-effort range, W."""
        return self.max_tractive_effort_kn * 1000.0 * self.base_speed_kmh / 3.6

    def aux_power_kw(self, outside_temp_c: float) -> float:
        """Auxiliary electrical load for an outside temperature: base plus HVAC.

        Cooling rises linearly from idle (a quarter of full) at ``hvac_comfort_c`` to full at
        ``hvac_full_c``; below the comfort temperature the same quarter covers ventilation and
        heating is taken as equal to idle (metro tunnels stay mild).
        """
        span = self.hvac_full_c - self.hvac_comfort_c
        share = min(max((outside_temp_c - self.hvac_comfort_c) / span, 0.0), 1.0)
        hvac = self.hvac_max_kw_per_car * (0.25 + 0.75 * share)
        return self.cars * (self.aux_base_kw_per_car + hvac)

    @property
    def rated_power_kw(self) -> float:
        """Maximum electrical draw at the collector: full traction power plus full auxiliaries."""
        return self.max_power_w / self.drive_efficiency / 1000.0 + self.cars * (
            self.aux_base_kw_per_car + self.hvac_max_kw_per_car
        )
