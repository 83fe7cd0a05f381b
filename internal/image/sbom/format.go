package sbom

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
)

// Formats are the --format values.
var Formats = []string{"cyclonedx-json", "spdx-json"}

// Subject is the image an SBOM describes.
type Subject struct {
	Name   string // the reference the user gave
	ID     string // config digest
	Digest string // manifest digest
}

// Property names carrying where a component was found (CycloneDX).
const (
	PropLayer = "tirith:layer"
	PropPath  = "tirith:path"
)

// Write writes cs for img in format.
func Write(w io.Writer, format string, img Subject, cs []Component, now time.Time) error {
	switch format {
	case "cyclonedx-json":
		return writeCycloneDX(w, img, cs, now)
	case "spdx-json":
		return writeSPDX(w, img, cs, now)
	}
	return fmt.Errorf("unknown SBOM format %q (want cyclonedx-json or spdx-json)", format)
}

func writeCycloneDX(w io.Writer, img Subject, cs []Component, now time.Time) error {
	bom := cdx.NewBOM()
	bom.SerialNumber = "urn:uuid:" + uuid()
	bom.Metadata = &cdx.Metadata{
		Timestamp: now.UTC().Format(time.RFC3339),
		Tools:     &cdx.ToolsChoice{Components: &[]cdx.Component{{Type: cdx.ComponentTypeApplication, Name: "tirith"}}},
		Component: &cdx.Component{
			Type: cdx.ComponentTypeContainer, Name: img.Name, Version: img.Digest, BOMRef: img.ID,
		},
	}
	comps := make([]cdx.Component, 0, len(cs))
	for i, c := range cs {
		props := []cdx.Property{{Name: PropLayer, Value: c.Layer}, {Name: PropPath, Value: c.Path}}
		if c.Source != "" {
			props = append(props, cdx.Property{Name: "tirith:source", Value: c.Source})
		}
		comps = append(comps, cdx.Component{
			BOMRef: fmt.Sprintf("%s-%d", c.Type, i), Type: cdx.ComponentTypeLibrary,
			Name: c.Name, Version: c.Version, PackageURL: c.PURL, Properties: &props,
		})
	}
	bom.Components = &comps
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	return enc.Encode(bom)
}

// SPDX 2.3 JSON, written by its published schema: the Go SPDX library
// would add dependencies for a document this small.
type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	SPDXID           string        `json:"SPDXID"`
	Name             string        `json:"name"`
	VersionInfo      string        `json:"versionInfo,omitempty"`
	DownloadLocation string        `json:"downloadLocation"`
	FilesAnalyzed    bool          `json:"filesAnalyzed"`
	SourceInfo       string        `json:"sourceInfo,omitempty"`
	PrimaryPurpose   string        `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs     []spdxExtRef  `json:"externalRefs,omitempty"`
	Checksums        []spdxSummary `json:"checksums,omitempty"`
}

type spdxSummary struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

func writeSPDX(w io.Writer, img Subject, cs []Component, now time.Time) error {
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              img.Name,
		DocumentNamespace: "urn:uuid:" + uuid(),
		CreationInfo:      spdxCreation{Created: now.UTC().Format(time.RFC3339), Creators: []string{"Tool: tirith"}},
	}
	imgPkg := spdxPackage{
		SPDXID: "SPDXRef-Image", Name: img.Name, VersionInfo: img.Digest, DownloadLocation: "NOASSERTION",
		PrimaryPurpose: "CONTAINER",
	}
	if len(img.Digest) > len("sha256:") {
		imgPkg.Checksums = []spdxSummary{{Algorithm: "SHA256", Value: img.Digest[len("sha256:"):]}}
	}
	doc.Packages = append(doc.Packages, imgPkg)
	doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"})
	for i, c := range cs {
		id := fmt.Sprintf("SPDXRef-Package-%s-%d", c.Type, i)
		p := spdxPackage{
			SPDXID: id, Name: c.Name, VersionInfo: c.Version, DownloadLocation: "NOASSERTION",
			SourceInfo: fmt.Sprintf("layer %s path %s", c.Layer, c.Path),
		}
		if c.PURL != "" {
			p.ExternalRefs = []spdxExtRef{{"PACKAGE-MANAGER", "purl", c.PURL}}
		}
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{"SPDXRef-Image", "CONTAINS", id})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// uuid is a random (version 4) UUID.
func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
