"""FPGA board tops and the out-of-context synthesis flow on the YoWASP tools."""
