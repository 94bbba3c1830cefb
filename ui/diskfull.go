package ui

// errDiskFullMsg is what a write refused for want of disk space answers
// (507, as JSON or as the error page); reading keeps working.
const errDiskFullMsg = "The server's disk is full, so nothing can be saved now; pages and the API can still be read. Free some space and try again."
