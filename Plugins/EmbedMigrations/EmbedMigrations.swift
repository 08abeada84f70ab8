import Foundation
import PackagePlugin

/// Builds the top-level `Migrations/*.sql` into the target it is applied to (WorkflowStore), so that a
/// release binary carries the schema it expects and `Migrations/` stays the only copy of the SQL.
///
/// SwiftPM resources must live inside a target's directory; a build-tool plugin may read any file of the
/// package, and SwiftPM re-plans on every build, so a new migration file is picked up without touching
/// Package.swift. Each file is an input of the command, so an edited one is embedded again. (Deleting a file
/// leaves SwiftPM with a stale plan that names it as a missing input until Package.swift changes or
/// `.build/plugins` is removed; applied migrations are never deleted, so this stays an edge of development.)
@main
struct EmbedMigrations: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let directory = context.package.directoryURL.appending(path: "Migrations")
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "EmbeddedMigrations.swift")
        return [
            .buildCommand(
                displayName: "Embedding \(files.count) migrations from Migrations/",
                executable: try context.tool(named: "EmbedMigrationsTool").url,
                arguments: [output.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output])
        ]
    }
}
