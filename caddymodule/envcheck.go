package caddymodule

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
)

// secretRef matches the placeholders that read the environment or a file at
// provision time: {env.NAME} and {file./path}.
var secretRef = regexp.MustCompile(`\{(env|file)\.([^{}]+)\}`)

// checkSecretRefs finds the first {env.NAME} whose variable is unset or empty,
// or {file./path} that cannot be read, in v's exported string fields. Caddy
// would replace either with an empty string, and the error that follows
// ("missing password") would not say which variable to set. The error names
// the directive path (JSON keys, with an auth line's method, e.g.
// "auth basic password") and the variable or file, never a value.
func checkSecretRefs(v any) error {
	return walkStrings(reflect.ValueOf(v), nil, func(path []string, s string) error {
		for _, m := range secretRef.FindAllStringSubmatch(s, -1) {
			where := strings.Join(path, " ")
			switch m[1] {
			case "env":
				if os.Getenv(m[2]) == "" {
					return fmt.Errorf("%s: environment variable %s is not set (%s)", where, m[2], m[0])
				}
			case "file":
				if _, err := os.Stat(m[2]); err != nil {
					return fmt.Errorf("%s: file %s cannot be read (%s)", where, m[2], m[0])
				}
			}
		}
		return nil
	})
}

// walkStrings calls f with every exported string field under v and its path.
func walkStrings(v reflect.Value, path []string, f func(path []string, s string) error) error {
	switch v.Kind() {
	case reflect.String:
		return f(path, v.String())
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return walkStrings(v.Elem(), path, f)
	case reflect.Struct:
		if m := v.FieldByName("Method"); m.IsValid() && m.Kind() == reflect.String && m.String() != "" {
			path = append(path, m.String()) // an auth line: "auth basic ..."
		}
		t := v.Type()
		for i := range v.NumField() {
			sf := t.Field(i)
			if !sf.IsExported() || sf.Name == "Method" {
				continue
			}
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				name = strings.ToLower(sf.Name)
			}
			if err := walkStrings(v.Field(i), append(append([]string(nil), path...), name), f); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := walkStrings(v.Index(i), path, f); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if err := walkStrings(iter.Value(), append(append([]string(nil), path...), fmt.Sprint(iter.Key())), f); err != nil {
				return err
			}
		}
	}
	return nil
}
