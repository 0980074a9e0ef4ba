package jwks

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		set     string
		kid     string
		want    string // type of the key, or "" when skipped
		wantErr string
	}{
		{"rsa", `{"keys":[{"kty":"RSA","kid":"r","n":"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw","e":"AQAB"}]}`, "r", "rsa", ""},
		{"ec p-256", `{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, "e", "ec", ""},
		{"ed25519", `{"keys":[{"kty":"OKP","kid":"o","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, "o", "ed", ""},
		{"encryption key skipped", `{"keys":[{"kty":"RSA","kid":"x","use":"enc","n":"AQAB","e":"AQAB"}]}`, "x", "", ""},
		{"unknown kty skipped", `{"keys":[{"kty":"oct","kid":"x","k":"abc"}]}`, "x", "", ""},
		{"point off the curve", `{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu8m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`, "", "", "bad point"},
		{"unknown curve", `{"keys":[{"kty":"EC","kid":"e","crv":"P-192","x":"AA","y":"AA"}]}`, "", "", "unknown curve"},
		{"bad exponent", `{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQ"}]}`, "", "", "bad exponent"},
		{"short ed25519", `{"keys":[{"kty":"OKP","kid":"o","crv":"Ed25519","x":"AAAA"}]}`, "", "", "bad Ed25519"},
		{"not json", `{`, "", "", "jwks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := Parse([]byte(tt.set))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, ok := keys[tt.kid]
			got := ""
			switch k.(type) {
			case *rsa.PublicKey:
				got = "rsa"
			case *ecdsa.PublicKey:
				got = "ec"
			case ed25519.PublicKey:
				got = "ed"
			}
			if got != tt.want || ok != (tt.want != "") {
				t.Fatalf("key %q: %T, want %s", tt.kid, k, tt.want)
			}
		})
	}
}
