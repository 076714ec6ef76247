"""cocotb modules that do the product's work inside the simulator (as opposed to the testbenches
under tests/): they read their job from :mod:`tessera.sim.tb`, run it on the design, and hand the
results
back for the host to compare with the golden model."""
