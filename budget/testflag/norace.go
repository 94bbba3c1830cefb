//go:build !race

package testflag

const race = false
