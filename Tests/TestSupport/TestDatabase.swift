import Foundation
public import PostgresClient

/// A fresh database in the test cluster per test (or suite), so tests never see each other's rows.
public struct TestDatabase: Sendable {
    public let name: String
    public let url: String

    /// Creates an empty database; with `migrated`, applies the project's migrations with `workflowd migrate`.
    public static func create(migrated: Bool = true, baseURL: String? = nil) throws -> TestDatabase {
        let base = baseURL ?? TestEnvironment.databaseURL!
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(16).lowercased()
        let admin = try PostgresConnection(configuration: PostgresConfiguration(connectionString: base))
        defer { admin.close() }
        try admin.executeScript("CREATE DATABASE \(name)")  // name is generated above, never user data
        let url = replaceDatabase(in: base, with: name)
        let database = TestDatabase(name: name, url: url)
        if migrated { try database.migrate() }
        return database
    }

    public func migrate() throws {
        try Shell.run(
            [TestEnvironment.binary!, "migrate"],
            environment: ["DATABASE_URL": url, "WORKFLOWD_MIGRATIONS_DIR": "\(TestEnvironment.root!)/Migrations", "WORKFLOWD_LOG_FORMAT": "text"])
    }

    public func connect() throws -> PostgresConnection {
        try PostgresConnection(configuration: PostgresConfiguration(connectionString: url))
    }

    /// Runs a query and returns the first column of the first row as text.
    public func scalar(_ query: PostgresQuery) throws -> String? {
        let connection = try connect()
        defer { connection.close() }
        return try connection.query(query).first?.optionalString(0)
    }

    static func replaceDatabase(in url: String, with name: String) -> String {
        guard let slash = url.lastIndex(of: "/") else { return url }
        let rest = url[url.index(after: slash)...]
        let query = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        return String(url[...slash]) + name + query
    }
}
