# Pinned engine versions, sourced by the engine scripts. One place to bump them.
# pkg/v3.259.0 is the newest pulumi CLI whose module zip the Go module proxy serves here
# (v3.260.0 and later answer 403); see README "The engine".
PULUMI_VERSION=v3.259.0
# The Node.js language host. Since v3.69 it is its own untagged module
# (sdk/nodejs/cmd/pulumi-language-nodejs/v3), which the module proxy here refuses at any
# pseudo-version (403). Up to v3.68.0 it lived inside the sdk/v3 module, which the proxy
# serves: that is the newest language host this machine can build. It speaks the same
# LanguageRuntime protocol and starts programs through the installed SDK's `cmd/run`.
LANGHOST_SDK_VERSION=v3.68.0
# The YAML language host (github.com/pulumi/pulumi-yaml), for programs that use the package
# from YAML (examples/yaml).
YAML_VERSION=v1.25.0
# pulumi-command v1.2.1 (the npm package is pinned to the same release).
COMMAND_VERSION=v1.2.1
COMMAND_COMMIT=7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25
