// Package sample holds one real minidump and its Breakpad symbols (from
// rust-minidump's test data, MIT, see ../testdata/LICENSE.rust-minidump),
// for the budget profile's "+ first minidump" stage: test.dmp, a Windows x86
// crash whose frame 0 symbolicates to `anonymous namespace'::CrashFunction
// with test_app.sym.
package sample

import _ "embed"

// Dump is test.dmp.
//
//go:embed test.dmp
var Dump []byte

// SymGz is test_app.sym, gzipped.
//
//go:embed test_app.sym.gz
var SymGz []byte

// CrashFunction is frame 0's function once symbolicated.
const CrashFunction = "`anonymous namespace'::CrashFunction"
