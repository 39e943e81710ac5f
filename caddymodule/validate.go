package caddymodule

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

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
	switch fe.Tag() {
	case "required":
		return fmt.Errorf("%s: missing value", name)
	case "oneof":
		return fmt.Errorf("%s: invalid value '%v' (want one of: %s)", name, fe.Value(), strings.ReplaceAll(fe.Param(), " ", ", "))
	case "url":
		return fmt.Errorf("%s: invalid URL '%v'", name, fe.Value())
	case "gte", "lte", "max", "min":
		return fmt.Errorf("%s: value '%v' out of range (%s %s)", name, fe.Value(), fe.Tag(), fe.Param())
	default:
		return fmt.Errorf("%s: invalid value '%v'", name, fe.Value())
	}
}
