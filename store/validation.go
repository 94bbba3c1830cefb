package store

import "errors"

// ValidationError is returned when the caller's input breaks a rule of the
// store: a bad field value, an unknown option. Its message is written for
// the person who sent the input, so the API shows it as a 400 as it is.
type ValidationError struct {
	Field string // the input field at fault, e.g. "url"; may be empty
	Msg   string // what is wrong, e.g. "must be an http:// or https:// URL"
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + " " + e.Msg
}

// Invalid returns a *ValidationError for field.
func Invalid(field, msg string) error { return &ValidationError{Field: field, Msg: msg} }

// IsValidation reports whether err is, or wraps, a *ValidationError.
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}
