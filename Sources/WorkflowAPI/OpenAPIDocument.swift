/// The OpenAPI 3.1 document of this API, served at GET /api/v1/openapi.json and printed by
/// `workflowd openapi`. The source is `Resources/openapi.json` beside this file (edit it as JSON);
/// SwiftPM embeds it in the binary at build time, so a deployment carries no separate file.
/// Tests hold it to the code: its paths to the route table, its status enum to `WorkflowStatus`, its
/// examples to its schemas, and real responses to its schemas.
public enum OpenAPIDocument {
    public static let json = String(decoding: PackageResources.openapi_json, as: UTF8.self)
}
