import Foundation
import PackagePlugin

/// Builds the top-level `Migrations/*.sql` into the target it is applied to (WorkflowStore), so that a
/// release binary carries the schema it expects and `Migrations/` stays the only copy of the SQL.
///
/// SwiftPM resources must live inside a target's directory; a build-tool plugin may read any file of the
/// package. SwiftPM keeps a build's plan, this plugin's command included, until Package.swift changes, so the
/// command names the directory rather than its files: the tool lists it each time it runs. The directory is
/// an input (adding or deleting a file changes it) and so is each file (an edited one is embedded again).
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
                displayName: "Embedding Migrations/*.sql",
                executable: try context.tool(named: "EmbedMigrationsTool").url,
                arguments: [output.path, directory.path],
                // The directory too: adding a file changes it, and the tool lists it again when it runs.
                inputFiles: [directory] + files,
                outputFiles: [output])
        ]
    }
}
