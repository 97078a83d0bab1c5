// vqrt command line: see Sources/vqrt/VQRT.swift once written.
