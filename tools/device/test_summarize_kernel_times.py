#!/usr/bin/env python3
"""Tests of summarize_kernel_times.py on a hand-made Nsight Compute CSV in its real layout
(a header row, a units row, one row per launch; names as ncu prints them)."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import summarize_kernel_times as skt  # noqa: E402

HEAD = '"ID","Process ID","Kernel Name","Grid Size","gpu__time_duration.sum"\n'
UNITS = '"","","","","us"\n'


def row(i, name, us):
    return f'"{i}","1","{name}","(1, 1, 1)","{us}"\n'


SYN = "void ql::<unnamed>::synthetic_kernel<0>(unsigned long, unsigned long, long, long, long, float, float, unsigned short *)"
CONV = "void ql::<unnamed>::convert_flat_vec<1, 1>(const void *, ql::<unnamed>::Dst<T2>::Out *, long, ql::QuantizeProblems *)"
MV = "void ql::gpu::<unnamed>::matvec_kernel<1, 4>(ql::gpu::<unnamed>::MatvecParams)"
SAMPLE = "void ql::gpu::<unnamed>::sample_kernel(const float *, int)"
NF4 = "void ql::<unnamed>::nf4_blocks_flat(const void *, unsigned char *, long)"


class Summary(unittest.TestCase):
    def test_short_names_keep_templates_and_drop_namespaces_and_arguments(self):
        self.assertEqual(skt.short(MV), "matvec_kernel<1, 4>")
        self.assertEqual(skt.short(SAMPLE), "sample_kernel")
        self.assertEqual(skt.short("nvjet_sm90_tss_64x8_64x16_2x4_h_bz_TNT"), "nvjet_sm90_tss_64x8_64x16_2x4_h_bz_TNT")

    def test_two_loads_each_summed_after_its_last_load_kernel(self):
        rows = [row(0, SYN, 800), row(1, CONV, 400), row(2, SYN, 3), row(3, MV, 9.5), row(4, MV, 10.5),
                row(5, SAMPLE, 7), row(6, SYN, 700), row(7, NF4, 50), row(8, MV, 4), row(9, SAMPLE, 6)]
        with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
            f.write(HEAD + UNITS + "".join(rows))
        try:
            out = subprocess.run([sys.executable, os.path.join(HERE, "summarize_kernel_times.py"), f.name],
                                 capture_output=True, text=True, check=True).stdout
        finally:
            os.unlink(f.name)
        lines = out.splitlines()
        loads = [line for line in lines if line.startswith("load ")]
        self.assertEqual(len(loads), 2, out)
        self.assertIn("load 1: 3 load kernels", loads[0])
        self.assertIn("inference 3 launches 0.03 ms, 1 sampled tokens", loads[0])
        self.assertIn("load 2: 2 load kernels", loads[1])
        mv = [line.split() for line in lines if line.strip().startswith("matvec_kernel<1, 4>")]
        self.assertEqual(mv[0][-4:], ["2", "20.0", "10.00", "74.1%"])  # 20 of 27 us
        self.assertEqual(mv[1][-4:], ["1", "4.0", "4.00", "40.0%"])


if __name__ == "__main__":
    unittest.main()
