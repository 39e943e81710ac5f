package caddymodule

import (
	"reflect"

	"github.com/caddyserver/caddy/v2"
)

// resolvePlaceholders returns a copy of v with {env.*}, {file.*} and other
// global placeholders replaced in every string field, at any depth. It runs at
// provision time so secrets stay placeholders in the JSON config (and so out
// of autosave.json and the admin API), while the runtime holds their values.
// Unknown placeholders are left as they are: an HMAC signed_payload template
// such as "{timestamp}.{body}" is not Caddy's to replace.
func resolvePlaceholders[T any](repl *caddy.Replacer, v T) T {
	rv := reflect.ValueOf(&v).Elem()
	resolveValue(repl, rv)
	return v
}

func resolveValue(repl *caddy.Replacer, v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(repl.ReplaceKnown(v.String(), ""))
		}
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		cp := reflect.New(v.Elem().Type())
		cp.Elem().Set(v.Elem())
		resolveValue(repl, cp.Elem())
		v.Set(cp)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				resolveValue(repl, v.Field(i))
			}
		}
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		cp := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(cp, v)
		for i := range cp.Len() {
			resolveValue(repl, cp.Index(i))
		}
		v.Set(cp)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		cp := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			val := reflect.New(iter.Value().Type()).Elem()
			val.Set(iter.Value())
			resolveValue(repl, val)
			cp.SetMapIndex(iter.Key(), val)
		}
		v.Set(cp)
	}
}
