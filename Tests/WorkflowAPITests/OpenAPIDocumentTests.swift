import Foundation
import TestSupport
import Testing
import WorkflowAPI
import Workflows

/// The OpenAPI document is hand-written JSON; these tests hold it to the code it describes.
@Suite struct OpenAPIDocumentTests {
    let validator: OpenAPIValidator
    var document: [String: Any] { validator.document }

    init() throws {
        validator = try OpenAPIValidator(json: OpenAPIDocument.json)
    }

    func schema(_ name: String) -> [String: Any] {
        ((document["components"] as? [String: Any])?["schemas"] as? [String: Any])?[name] as? [String: Any] ?? [:]
    }

    @Test func statusEnumListsEveryWorkflowStatusInOrder() {
        let documented = schema("WorkflowStatus")["enum"] as? [String]
        #expect(documented == WorkflowStatus.allCases.map(\.rawValue))
    }

    @Test func migrationCheckConstraintListsEveryWorkflowStatus() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let sql = try String(contentsOf: root.appendingPathComponent("Migrations/0002_workflow_instances_and_events.sql"), encoding: .utf8)
        // The CHECK on workflow_instances.status: every quoted word inside `status IN (...)`.
        let start = try #require(sql.range(of: "status IN ("))
        let end = try #require(sql[start.upperBound...].firstIndex(of: ")"))
        let listed = sql[start.upperBound..<end].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        #expect(Set(listed) == Set(WorkflowStatus.allCases.map(\.rawValue)))
        #expect(listed.count == WorkflowStatus.allCases.count)
    }

    /// The event `type` CHECK, as the latest migration that sets it lists it, holds every event type.
    @Test func migrationCheckConstraintListsEveryEventType() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let migrations = root.appendingPathComponent("Migrations")
        let names = try FileManager.default.contentsOfDirectory(atPath: migrations.path).filter { $0.hasSuffix(".sql") }.sorted()
        let sql = try #require(try names.reversed().lazy
            .map { try String(contentsOf: migrations.appendingPathComponent($0), encoding: .utf8) }
            .first { $0.contains("workflow_events_type_check CHECK (type IN (") })
        let start = try #require(sql.range(of: "CHECK (type IN ("))
        let end = try #require(sql[start.upperBound...].firstIndex(of: ")"))
        let listed = sql[start.upperBound..<end].split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        #expect(listed == WorkflowEventType.allCases.map(\.rawValue))
    }

    @Test func eventTypeAndActionEnumsListEverySwiftCase() {
        let eventType = ((schema("WorkflowEvent")["properties"] as? [String: Any])?["type"] as? [String: Any])?["enum"] as? [String]
        #expect(eventType == WorkflowEventType.allCases.map(\.rawValue))
        #expect(schema("Action")["enum"] as? [String] == WorkflowAction.allCases.map(\.rawValue))
        let info = (document["info"] as? [String: Any])?["description"] as? String ?? ""
        for role in Role.allCases { #expect(info.contains("**\(role.rawValue)**"), "role \(role.rawValue) is not described") }
    }

    /// Webhook filters and deliveries name event types too: every event-type enum anywhere in the document
    /// (recognised by holding InstanceCreated) lists exactly the Swift cases, so a new event type is filterable.
    @Test func everyEventTypeEnumInTheDocumentListsEverySwiftCase() {
        var found: [String: [String]] = [:]
        func walk(_ node: Any, _ path: String) {
            if let object = node as? [String: Any] {
                if let values = object["enum"] as? [Any], values.contains(where: { $0 as? String == "InstanceCreated" }) {
                    found[path] = values.compactMap { $0 as? String }
                }
                for (key, value) in object { walk(value, "\(path)/\(key)") }
            } else if let array = node as? [Any] {
                for (i, value) in array.enumerated() { walk(value, "\(path)/\(i)") }
            }
        }
        walk(document, "")
        #expect(found.keys.contains { $0.contains("WebhookRequest") })
        for (path, values) in found { #expect(values == WorkflowEventType.allCases.map(\.rawValue), "\(path)") }
    }

    /// Every `example` and `examples` in the document conforms to the schema it illustrates.
    @Test func everyExampleValidatesAgainstItsSchema() {
        var checked = 0
        var problems: [String] = []
        func check(_ value: Any, _ schema: [String: Any], _ path: String) {
            checked += 1
            problems += validator.violations(of: value, against: schema, at: path)
        }
        func walk(_ node: Any, _ path: String) {
            if let object = node as? [String: Any] {
                if let schema = object["schema"] as? [String: Any], let example = object["example"] {
                    check(example, schema, path + "/example")  // a media type or parameter
                }
                if object["type"] != nil || object["$ref"] != nil || object["properties"] != nil {
                    var bare = object  // a schema: its own examples, checked without themselves
                    bare["examples"] = nil
                    for (i, example) in (object["examples"] as? [Any] ?? []).enumerated() { check(example, bare, "\(path)/examples/\(i)") }
                }
                for (key, value) in object where key != "example" && key != "examples" { walk(value, "\(path)/\(key)") }
            } else if let array = node as? [Any] {
                for (i, value) in array.enumerated() { walk(value, "\(path)/\(i)") }
            }
        }
        walk(document, "#")
        #expect(checked >= 15, "found only \(checked) examples")
        #expect(problems.isEmpty, "\(problems)")
    }

    @Test func problemTypesInExamplesAreOnesTheServerSends() {
        let pattern = ((schema("Problem")["properties"] as? [String: Any])?["type"] as? [String: Any])?["pattern"] as? String
        #expect(pattern != nil)
        #expect(validator.violations(of: ["type": "/problems/other", "title": "x", "status": 400, "detail": "x"], against: schema("Problem"), at: "p").isEmpty == false)
    }
}
