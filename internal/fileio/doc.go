// Package fileio writes a list of buffers to a file at an offset with as
// few system calls as the system allows: one pwritev per 1,024 buffers on
// Linux (a plain pwrite for a single one), a WriteAt per buffer
// elsewhere. The spool's group commits and the store's digest batches
// both write that way, from the buffers they already hold.
package fileio
