package caddymodule

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/go-playground/validator/v10"
)

// configValidator checks the struct-level rules written as `validate` tags on
// the config structs. Field names in its errors are the JSON keys, which are
// also the Caddyfile subdirective names.
var configValidator = func() *validator.Validate {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	return v
}()

// validateStruct runs the tags of a config struct (nested ones included) and
// turns the first failure into one line that names the directive.
func validateStruct(s any) error {
	err := configValidator.Struct(s)
	if err == nil {
		return nil
	}
	verrs, ok := errors.AsType[validator.ValidationErrors](err)
	if !ok || len(verrs) == 0 {
		return err
	}
	fe := verrs[0]
	// The namespace is "Handler.forward.url": drop the type, keep the path of
	// JSON keys, which reads as the Caddyfile path "forward url".
	_, path, _ := strings.Cut(fe.Namespace(), ".")
	name := strings.ReplaceAll(path, ".", " ")
	value := valueText(fe.Value())
	switch fe.Tag() {
	case "required":
		return fmt.Errorf("%s: missing value", name)
	case "oneof":
		return fmt.Errorf("%s: invalid value '%s' (want one of: %s)", name, value, strings.ReplaceAll(fe.Param(), " ", ", "))
	case "url":
		return fmt.Errorf("%s: invalid URL '%s'", name, value)
	case "gte", "lte", "max", "min":
		return fmt.Errorf("%s: value '%s' out of range (%s %s)", name, value, fe.Tag(), fe.Param())
	default:
		return fmt.Errorf("%s: invalid value '%s'", name, value)
	}
}

// valueText writes a config value as the user wrote it: durations as durations, not nanoseconds.
func valueText(v any) string {
	switch d := v.(type) {
	case caddy.Duration:
		return time.Duration(d).String()
	case *caddy.Duration:
		if d != nil {
			return time.Duration(*d).String()
		}
	}
	return fmt.Sprint(v)
}
