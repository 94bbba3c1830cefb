package event

// Deep events. Ingest accepts an event whose brackets nest up to
// fastjson.MaxDepth (300) levels, but fastjson's parser counts every value,
// so a string inside the 300th level is one level too deep for it, and
// wrapping a bare exception, breadcrumbs or threads value in
// {"values": [...]} adds one or two levels more. Rather than drop such an
// event, Normalize keeps it and replaces each array or object that would
// nest too deep with the string rawevent.DepthMarker: before parsing (rawevent.TrimDepth) for
// what the parser would refuse, and while writing (writer.value) for what
// wrapping pushes down. Real SDK events nest a few dozen levels at most.
