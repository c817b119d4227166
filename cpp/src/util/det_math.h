// Elementary functions that give the same bits on every machine, for what the
// ledger re-executes (the settlement's consensus engines and fraud screen).
//
// The C library's exp/log are not a fixed function of their input: glibc picks
// an FMA or a plain build at load time by the CPU (ifunc), other glibc versions
// and other C libraries round their hard cases differently, and none promises
// correct rounding. Two nodes settling one task could then floor a posterior to
// different parts per million and disagree on a result hash. These use only
// IEEE-754 double +, -, *, / and bit operations, each correctly rounded and so
// identical everywhere, compiled with -ffp-contract=off (no fused multiply-add
// may be formed from them).
//
// exp and log follow fdlibm 5.3's e_exp.c and e_log.c (Sun Microsystems,
// 1993: "Developed at SunSoft, a Sun Microsystems, Inc. business. Permission
// to use, copy, modify, and distribute this software is freely granted,
// provided that this notice is preserved."), error below 1 ulp.
// cpp/tests/util_det_math_test.cc checks the error against long double and
// pins the bits of a sweep of inputs.
#pragma once

namespace tagger::util::det {

// Defined in det_math.cc, so that they are compiled once with the core's flags
// (-ffp-contract=off) whatever the flags of the file that calls them.

// e^x, within 1 ulp. exp(NaN) = NaN, overflow gives +inf, underflow 0.
double exp(double x);
// ln x, within 1 ulp. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf.
double log(double x);
// ln(1 + x) for x >= -1, within 3 ulp.
double log1p(double x);
// ln Gamma(x) = ln (x - 1)! for a whole number x >= 1 (log-factorials of
// counts), within about 3 ulp; NaN for fractions and below 1, inf for inf.
double lgamma(double x);

}  // namespace tagger::util::det
