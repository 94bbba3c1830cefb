package ingest

import "net/http"

// handleStore serves POST /api/{project_id}/store/: the body is one event.
func (h *Handler) handleStore(w http.ResponseWriter, r *http.Request) error {
	project, b, release, err := h.admitBody(w, r, h.store)
	if err != nil {
		return err
	}
	defer b.Close()
	defer release()
	ev := getEventBuf()
	defer putEventBuf(ev)
	hint := int64(0)
	if b.identity() {
		hint = r.ContentLength
	}
	if err := ev.readAll(b, hint, h.store.decoded.n); err != nil {
		return err
	}
	b.Close() // free the decoder before waiting for the disk
	if err := checkEventScan(ev.b, &ev.scan); err != nil {
		return err
	}
	payloadID, payload := prepareScanned(ev.b, &ev.scan)
	var ids envelopeIDs
	id := ids.pick(payloadID)
	if err := h.spoolEvent(r, project, id, payload); err != nil {
		return err
	}
	return writeID(w, id)
}
