package schemas_test

import (
	"os"
	"path/filepath"
	"testing"
)

// benchValidate measures Validate on an already decoded fixture, as the
// gateway calls it after its own JSON checks.
func benchValidate(b *testing.B, vendor, family, fixture string) {
	_, sch := compiledPreset(b, vendor, family)
	data, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(fixture)))
	if err != nil {
		b.Fatal(err)
	}
	v := decodeStd(b, data)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sch.Validate(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateUnicoIDCloud(b *testing.B) {
	benchValidate(b, "unico_idcloud", "", "unico_idcloud/default/valid/finished_expired.json")
}

func BenchmarkValidateUnicoMagicLink(b *testing.B) {
	benchValidate(b, "unico_magiclink", "", "unico_magiclink/default/valid/step_with_space.json")
}

func BenchmarkValidateIncode(b *testing.B) {
	benchValidate(b, "incode", "onboarding_status", "incode/onboarding_status/valid/second_id_with_client_and_flow.json")
}

func BenchmarkValidateAttestr(b *testing.B) {
	benchValidate(b, "attestr", "", "attestr/default/valid/flowx_completed.json")
}

func BenchmarkValidateIDWise(b *testing.B) {
	benchValidate(b, "idwise", "", "idwise/default/valid/aml_monior_update_typo.json")
}
