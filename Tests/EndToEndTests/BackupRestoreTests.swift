import Foundation
import PostgresClient
import TestSupport
import Testing

/// The backup procedure of docs/operations.md: `pg_dump -Fc` of the live database, `pg_restore` into a new
/// one, workflowd started on the copy.
@Suite(requiresStack)
struct BackupRestoreEndToEndTests {
    @Test func aRestoredDumpServesTheSameInstancesAndEventsAndAcceptsChanges() throws {
        let original = try Stack(name: "backup")
        let marcus = try APIUser(original, roles: ["Participant"])
        var ids: [String] = []
        for name in ["Apollo", "Zeus", "Hera"] {
            let result = try marcus.call(
                "POST", "/api/v1/workflows", json: ["workflowId": "create-prd", "parameters": ["projectName": name]],
                headers: ["Idempotency-Key": "create-\(name)"])
            ids.append(try #require(result.json["id"] as? String))
        }
        #expect(try marcus.transition(ids[0], to: "Running").status == 200)
        #expect(try marcus.call("POST", "/api/v1/workflows/\(ids[0])/advance", json: ["output": ["note": "done"]]).status == 200)
        #expect(try marcus.transition(ids[1], to: "Cancelled", reason: "not needed").status == 200)
        func snapshot(_ user: APIUser) throws -> [String] {
            try ids.flatMap { id in
                [try user.call("GET", "/api/v1/workflows/\(id)").text, try user.call("GET", "/api/v1/workflows/\(id)/events").text]
            } + [try user.call("GET", "/api/v1/workflows").text]
        }
        let before = try snapshot(marcus)

        // Online: the original keeps serving while pg_dump reads one consistent snapshot.
        let dump = "\(original.directory)/workflowd.dump"
        try Shell.run(["pg_dump", "--format=custom", "--file=\(dump)", original.database.url])
        let copy = try TestDatabase.create(migrated: false)
        try Shell.run(["pg_restore", "--exit-on-error", "--no-owner", "--dbname=\(copy.url)", dump])
        #expect(try copy.scalar("SELECT count(*) FROM schema_migrations")
            == original.database.scalar("SELECT count(*) FROM schema_migrations"))
        original.stop()

        // `serve` refuses a database with pending migrations, so starting at all shows schema_migrations came along.
        let restored = try Stack(name: "restored", databaseURL: copy.url)
        let sameUser = try APIUser(restored, roles: ["Participant"], id: marcus.id)
        #expect(try snapshot(sameUser) == before)

        let lastEvent = try #require(Int(copy.scalar("SELECT max(id) FROM workflow_events") ?? ""))
        let resumed = try sameUser.transition(ids[0], to: "Paused", reason: "after restore")
        #expect(resumed.status == 200, "\(resumed)")
        #expect(resumed.json["version"] as? Int == 4)
        let events = try sameUser.call("GET", "/api/v1/workflows/\(ids[0])/events").json["items"] as? [[String: Any]] ?? []
        #expect(events.count == 4)
        #expect((events.last?["id"] as? Int ?? 0) > lastEvent, "the event sequence continues after the restored rows")
        let replay = try sameUser.call(
            "POST", "/api/v1/workflows", json: ["workflowId": "create-prd", "parameters": ["projectName": "Hera"]],
            headers: ["Idempotency-Key": "create-Hera"])
        #expect(replay.header("idempotent-replayed") == "true", "idempotency keys are part of the backup")
        #expect(replay.json["id"] as? String == ids[2])
    }
}
