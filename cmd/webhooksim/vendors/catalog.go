package vendors

// Event is one kind of webhook a vendor sends: its preset (Vendor, Family, as the
// gateway's `vendor` directive names them), a name for the -event flag, a weight in the
// default mix of its vendor and family, and the body template.
type Event struct {
	// Vendor is the gateway preset name, e.g. "idwise".
	Vendor string
	// Family is the preset's event family ("" for single-family vendors).
	Family string
	// Name selects the event with -event, e.g. "finished_journey".
	Name string
	// Weight is the event's share of its vendor's default mix.
	Weight int
	// Template is the compiled body.
	Template *Template
}

// ev compiles one catalog entry.
func ev(vendor, family, name string, weight int, body string) Event {
	return Event{Vendor: vendor, Family: family, Name: name, Weight: weight, Template: MustCompileTemplate(body)}
}

// catalog is every event the simulator can send. Bodies follow schemas/testdata and
// docs/vendors.md; ids that make up a preset's idempotency key are unique per body.
var catalog = func() []Event {
	var c []Event
	// IDWise: {event, body}; body.eventId is the key (docs/vendors.md, IDWise).
	c = append(c,
		ev("idwise", "", "finished_journey", 5, `{"event":"Finished Journey","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Complete"}}`),
		ev("idwise", "", "manually_reviewed", 2, `{"event":"Manually Reviewed","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Refer","manualDecision":"Approved","finalDecision":"Approved"}}`),
		ev("idwise", "", "finished_user_steps", 2, `{"event":"Finished User Steps","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Incomplete"}}`),
		ev("idwise", "", "aml_monitor_update", 1, `{"event":"AML Monitor Update","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Refer","previousSystemDecision":"Complete","updatedAMLVersionNumber":2}}`),
		ev("idwise", "", "finished_spot_check", 1, `{"event":"Finished Spot Check","body":{"eventId":"{{uuid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Complete","spotCheckJourneyId":"{{oid}}"}}`),
		ev("idwise", "", "updated_journey", 1, `{"event":"Updated Journey","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Refer","manualDecision":"Resubmission Requested","finalDecision":"Resubmission Requested","action":"AML Match Review"}}`),
		ev("idwise", "", "verification_update_required", 1, `{"event":"Verification Update Required","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","referenceNo":"840-2025-{{num}}","systemDecision":"Incomplete","manualDecision":null,"finalDecision":"Incomplete","trigger":"Document Expired","requiredSteps":[{"stepId":"0","reasonCode":"DOCUMENT_EXPIRED"},{"stepId":"2","reasonCode":"SELFIE_MISMATCH"}]}}`),
		ev("idwise", "", "finished_ongoing_check", 1, `{"event":"Finished Ongoing Check","body":{"eventId":"{{uuid}}","journeyId":"{{oid}}","ongoingCheckId":"og_{{num}}","systemDecision":"Complete"}}`),
	)
	// Unico IDCloud: flat, terminal state only (docs/vendors.md, "Unico IDCloud").
	c = append(c,
		ev("unico_idcloud", "", "ok", 6, `{"processId":"{{uuid}}","state":"PROCESS_STATE_FINISHED","flow":"id","result":"ok"}`),
		ev("unico_idcloud", "", "expired", 2, `{"processId":"{{uuid}}","state":"PROCESS_STATE_FINISHED","flow":"id","result":"expired","lastEvent":"EVENT_TYPE_SESSION_ENDED","lastEventDescription":"Session ended by timeout or by new session created"}`),
		ev("unico_idcloud", "", "invalid_identity", 2, `{"processId":"{{uuid}}","state":"PROCESS_STATE_FINISHED","flow":"idlive","result":"invalid_identity"}`),
	)
	// Unico Magic Link v2: step, document re-capture and results events (docs/vendors.md, "Unico Magic Link v2").
	for _, step := range []string{"form_start", "form_document_front", "form_document_back", "form_selfie", "form_decision_maker"} {
		c = append(c, ev("unico_magiclink", "step", step, 2, `{"step":"`+step+`","user_id":"cust-{{oid}}","started_on":"{{now}}","completed_on":"{{now}}"}`))
	}
	c = append(c,
		ev("unico_magiclink", "document_recapture", "ine_front", 1, `{"user_id":"cust-{{oid}}","ine_front":{"invalid_document":false,"curp_reading_failure":true}}`),
		ev("unico_magiclink", "document_recapture", "ine_back", 1, `{"user_id":"cust-{{oid}}","ine_back":{"invalid_document":false,"mrz_reading_failure":true}}`),
		ev("unico_magiclink", "results", "decision", 2, `{"data":{"external_id":"cust-{{oid}}","label":"No Threat","reason":[],"request_id":"{{uuid}}"},"version":"2.1.0","status":"success","status_code":200,"request_date":"{{now}}"}`),
	)
	// Incode: no event field; one URL (preset family) per webhook type (docs/vendors.md, "Incode").
	for _, st := range []struct {
		name   string
		weight int
	}{
		{"ID_VALIDATION_FINISHED", 3}, {"POST_PROCESSING_FINISHED", 2}, {"FACE_VALIDATION_FINISHED", 2},
		{"GOVERNMENT_VALIDATION_FINISHED", 1}, {"ONBOARDING_FINISHED", 3}, {"MANUAL_REVIEW_APPROVED", 1},
	} {
		c = append(c, ev("incode", "onboarding_status", st.name, st.weight, `{"interviewId":"{{oid}}","externalId":"user-{{num}}","onboardingStatus":"`+st.name+`","clientId":"acme","flowId":"65a0b1c2d3e4f5a6b7c8d9e0"}`))
	}
	c = append(c,
		ev("incode", "videoselfie", "uploaded", 1, `{"clientId":"acme","flowId":"65a0b1c2d3e4f5a6b7c8d9e0","interviewId":"{{oid}}"}`),
		ev("incode", "watchlist", "updated", 1, `{"interviewId":"{{oid}}","ref":"{{ms}}-{{aid}}","search_id":"{{num}}"}`),
		ev("incode", "face_authentication", "pass", 3, `{"customerId":"{{oid}}","interviewId":"{{oid}}","transactionId":"{{oid}}","faceMatch":true,"spoofAttempt":false,"secondFactor":false,"children":[],"hasFaceMask":false,"hasLenses":false,"spoofConfidence":0.0112,"recognitionConfidence":{"confidence":0.9871,"candidates":[]},"overallScore":98.7,"overallStatus":"PASS"}`),
		ev("incode", "face_authentication", "spoof_failure", 1, `{"customerId":"{{oid}}","interviewId":"{{oid}}","transactionId":"{{oid}}","faceMatch":false,"spoofAttempt":true,"overallStatus":"FAIL","error":"Spoof attempt detected","errorCode":4005,"errorMessage":"Spoof attempt detected"}`),
	)
	for _, f := range []string{"session_started", "session_progress", "session_failed", "session_succeeded", "session_pending_review", "identity_enrolled"} {
		c = append(c, ev("incode", f, "event", 1, `{"interviewId":"{{oid}}","externalCustomerId":null,"configurationId":"65a0b1c2d3e4f5a6b7c8d9e0","eventType":"`+upper(f)+`","timestamp":{{ms}},"status":"OK","reason":null}`))
	}
	// Attestr: {event, payload} (docs/vendors.md, "Attestr").
	c = append(c,
		ev("attestr", "", "flowx.completed", 4, `{"event":"flowx.completed","payload":{"_id":"{{aid}}","tag":"REF-{{num}}","number":"HS-{{num}}","requestId":"{{oid}}","flowId":"FLW-kyc-basic","snapshot":"v3","updated":{{ms}},"resultSignature":"3f7a9c0b1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c","result":{"stage_pan":{"input":{"pan":"ABCDE1234F"},"output":{"valid":true,"name":"RAHUL SHARMA"}}}}}`),
		ev("attestr", "", "flowx.errored", 1, `{"event":"flowx.errored","payload":{"_id":"{{aid}}","tag":"REF-{{num}}","code":"DOC_UNREADABLE","message":"Document could not be read","result":{"stage_doc":{"input":{},"output":null}}}}`),
		ev("attestr", "", "flowx.skipped", 1, `{"event":"flowx.skipped","payload":{"_id":"{{aid}}","tag":"REF-{{num}}","number":"HS-{{num}}","requestId":"{{oid}}","flowId":"FLW-kyc-basic","snapshot":null,"updated":{{ms}},"result":null,"resultSignature":null}}`),
		ev("attestr", "", "factx.query", 1, `{"event":"factx.query","payload":{"_id":"{{aid}}","profile":"{{aid}}","queries":[{"_id":"{{aid}}","text":"Please share your updated PAN document","documents":["{{aid}}"],"response":null,"responseDocuments":null,"created":{{ms}},"createdBy":null,"updated":null,"updatedBy":null}]}}`),
		ev("attestr", "", "async.completed", 2, `{"event":"async.completed","payload":{"_id":"{{aid}}","requestId":"{{oid}}","output":{"valid":true,"gstin":"29ABCDE1234F1Z5"}}}`),
		ev("attestr", "", "async.errored", 1, `{"event":"async.errored","payload":{"requestId":"{{oid}}","code":"SOURCE_UNAVAILABLE","message":"Source is temporarily unavailable"}}`),
	)
	return c
}()

// upper turns a snake_case family into the SCREAMING_SNAKE eventType Incode uses.
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

// Catalog returns every event of the simulator, in a stable order.
func Catalog() []Event {
	return append([]Event(nil), catalog...)
}
