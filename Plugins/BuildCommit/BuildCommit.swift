import Foundation
import PackagePlugin

/// Writes the commit `okra-bridge` is built from into the binary (`okra-bridge version`).
///
/// A prebuild command, run before every build: `git rev-parse` in the package's folder, with
/// `-dirty` when tracked files differ from it. Where there is no repository (the image's build
/// stage copies the sources without `.git`) the `OKRA_BRIDGE_COMMIT` variable says it (the
/// Containerfile's build argument), else `unknown`. The generated file is rewritten only when
/// its text changes, so an unchanged commit recompiles nothing.
@main
struct BuildCommit: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = #"""
        package="$1"; out="$2"; given="$3"
        mkdir -p "$out"
        commit="$(git -C "$package" rev-parse --short=12 HEAD 2>/dev/null)" || commit=""
        if [ -z "$commit" ]; then
          commit="$(printf '%s' "${given:-unknown}" | tr -cd 'A-Za-z0-9._-')"
          [ -n "$commit" ] || commit=unknown
        elif [ -n "$(git -C "$package" status --porcelain --untracked-files=no 2>/dev/null | head -n 1)" ]; then
          commit="$commit-dirty"
        fi
        text="// Generated before each build by Plugins/BuildCommit: the commit this binary was built from.
        enum BuildCommit { static let value = \"$commit\" }"
        if [ "$(cat "$out/BuildCommit.swift" 2>/dev/null)" != "$text" ]; then
          printf '%s\n' "$text" >"$out/BuildCommit.swift"
        fi
        """#
        return [.prebuildCommand(
            displayName: "Recording the commit okra-bridge is built from",
            executable: URL(fileURLWithPath: "/bin/sh"),
            arguments: ["-c", script, "sh", context.package.directoryURL.path, output.path,
                        ProcessInfo.processInfo.environment["OKRA_BRIDGE_COMMIT"] ?? ""],
            outputFilesDirectory: output
        )]
    }
}
