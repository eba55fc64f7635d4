// The bench's hello world with the OpenTelemetry SDK registered by the app module,
// as an app under Bun workers does (tests/fixtures/apps/otel_sdk.ts): every
// request's server span is appserve's, exported by the SDK.
import "../../tests/fixtures/apps/otel_sdk.ts";

export { default } from "./hello_app.ts";
