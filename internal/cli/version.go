package cli

// Version is the release of twilio-elt and tap-twilio-usage. The
// Dockerfile's io.airbyte.version label and metadata.yaml's dockerImageTag
// must equal it; integration_tests checks that they do.
const Version = "0.1.0"
