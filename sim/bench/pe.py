"""Simulated cycles per second of the MAC PE on Icarus and Verilator (the `make sim` job)."""

TITLE = "MAC PE: simulated cycles per second on Icarus and Verilator"

RUNS = {"verilator": 8000, "icarus": 4000}  # dot products of length 16 per simulator


def run():
    from tessera.sim.pe import pe_dot_products

    figures = {}
    for sim, count in RUNS.items():
        pe_dot_products(16, 16, seed=1, sim=sim)  # build (cached) outside the measurement
        result = pe_dot_products(count, 16, seed=0, sim=sim)
        assert result["matched"] == result["dots"], result
        figures[sim] = {"cycles": result["cycles"],
                        "cycles_per_second": round(result["cycles_per_second"])}
        print(f"   {sim:<9} {result['cycles']:>7} cycles  "
              f"{result['cycles_per_second']:>9,.0f} cycles/s", flush=True)
    return figures
