package store

import "errors"

// ValidationError is returned when the caller's input breaks a rule of the
// store: a bad field value, a taken name, an action the state forbids. Its
// text is written for the person who sent the input, so the API shows it
// as a 400 as it is.
type ValidationError struct {
	// Kind is the sentinel this is a case of (ErrInvalid, ErrExists,
	// ErrInvalidAction, ErrInvalidBackend), for errors.Is; may be nil.
	Kind  error
	Field string // the input field at fault, e.g. "config.webhook_url"; may be empty
	Msg   string // what is wrong, e.g. "must be an http:// or https:// URL"
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + " " + e.Msg
}

// Unwrap returns the error's Kind.
func (e *ValidationError) Unwrap() error { return e.Kind }

// Invalid returns a *ValidationError of Kind ErrInvalid for field.
func Invalid(field, msg string) error {
	return &ValidationError{Kind: ErrInvalid, Field: field, Msg: msg}
}

// IsValidation reports whether err is, or wraps, a *ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}
