import Foundation
import Testing

/// The alert rules and the dashboard (deploy/monitoring) against a live `/metrics`: every metric
/// and every label they name exists, so a renamed metric breaks the build, not the alerts.
@Suite("monitoring: rules and dashboard against a live /metrics (real broker)", .enabled(if: DevBroker.enabled))
struct MonitoringTests {
    typealias Bridge = ServeEndToEndTests.Bridge

    /// Each PromQL expression of the rules file (`expr:` values, folded ones too) and the dashboard.
    static func expressions() throws -> [(source: String, expr: String)] {
        let monitoring = DevBroker.repositoryRoot.appendingPathComponent("deploy/monitoring")
        var found: [(String, String)] = []
        let rules = try String(contentsOf: monitoring.appendingPathComponent("okra-bridge-rules.yaml"), encoding: .utf8)
        var lines = rules.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        while let line = lines.popFirst() {
            guard let range = line.range(of: "expr: ") else { continue }
            var expr = String(line[range.upperBound...])
            if expr.hasPrefix(">-") || expr.hasPrefix(">") {
                expr = ""
                while let next = lines.first, next.hasPrefix("          ") { expr += " " + next.trimmingCharacters(in: .whitespaces); lines.removeFirst() }
            }
            found.append(("okra-bridge-rules.yaml", expr))
        }
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: monitoring.appendingPathComponent("okra-bridge-dashboard.json"))) as? [String: Any]
        for panel in dashboard?["panels"] as? [[String: Any]] ?? [] {
            for target in panel["targets"] as? [[String: Any]] ?? [] {
                if let expr = target["expr"] as? String { found.append(("dashboard: \(panel["title"] ?? "")", expr)) }
            }
        }
        let templating = (dashboard?["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
        for variable in templating { if let definition = variable["definition"] as? String { found.append(("dashboard variable", definition)) } }
        return found
    }

    /// Label names a selector or a `by (...)` in `expr` uses for `okra_bridge_*` metrics; those
    /// Prometheus adds itself (instance, job) and histograms' `le` left out.
    static func labels(in expr: String) -> Set<String> {
        var names: Set<String> = []
        let selector = /okra_bridge_[a-z_]+\{([^}]*)\}/
        for match in expr.matches(of: selector) {
            for matcher in match.1.split(separator: ",") {
                let name = matcher.prefix { $0.isLetter || $0 == "_" }.trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { names.insert(name) }
            }
        }
        for match in expr.matches(of: /by \(([^)]*)\)/) {
            for name in match.1.split(separator: ",") { names.insert(name.trimmingCharacters(in: .whitespaces)) }
        }
        return names.subtracting(["instance", "job", "le"])
    }

    @Test("every metric and label the alert rules and the dashboard name is on a live bridge's /metrics")
    func namesExist() async throws {
        let bootstrap = try await DevBroker.bootstrap()
        let adminPort = try Bridge.freePort()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("okra-monitoring-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let tokens = folder.appendingPathComponent("tokens"), adminTokens = folder.appendingPathComponent("admin-tokens")
        try "production=\(ServeEndToEndTests.productionToken)\n".write(to: tokens, atomically: true, encoding: .utf8)
        try "prometheus:metrics=monitoring-scrape-secret-0123\n".write(to: adminTokens, atomically: true, encoding: .utf8)
        let bridge = try await Bridge.start(bootstrap: bootstrap, extraArguments: [
            "--admin-listen", "127.0.0.1:\(adminPort)", "--admin-token-file", adminTokens.path, "--token-file", tokens.path,
        ])
        let admin = Bridge(process: bridge.process, port: adminPort, prefix: bridge.prefix, routes: bridge.routes, directory: bridge.directory)
        let body = try Data(contentsOf: ServeEndToEndTests.fixtures.appendingPathComponent("v2-payment-success.json"))
        #expect(try await bridge.post(body, headers: ["Okra-Auth": ServeEndToEndTests.productionToken]).0 == 200)
        // A publish and the upkeep's gauges, then the scrape.
        try await Task.sleep(for: .seconds(2))
        let (status, scrape) = try await admin.request("GET", "/metrics", body: nil, headers: ["Authorization": "Bearer monitoring-scrape-secret-0123"])
        #expect(status == 200)
        // Each series name and the label names it carries.
        var series: [String: Set<String>] = [:]
        for line in scrape.split(separator: "\n") where line.hasPrefix("okra_bridge_") {
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            var labels = series[name, default: []]
            if let open = line.firstIndex(of: "{"), let close = line.firstIndex(of: "}") {
                for pair in line[line.index(after: open)..<close].split(separator: ",") { labels.insert(String(pair.prefix { $0 != "=" })) }
            }
            series[name] = labels
        }
        let expressions = try Self.expressions()
        #expect(expressions.count >= 25, "\(expressions.count) expressions")
        for (source, expr) in expressions {
            let metrics = Set(expr.matches(of: /okra_bridge_[a-z_]+/).map { String($0.output) })
            #expect(!metrics.isEmpty || expr.contains("up{"), "\(source): \(expr)")
            for metric in metrics {
                guard let labels = series[metric] else {
                    Issue.record("\(source): \(metric) is not on /metrics")
                    continue
                }
                // A label named in the expression must be on one of its metrics.
                for label in Self.labels(in: expr) where !metrics.contains(where: { series[$0]?.contains(label) == true }) {
                    Issue.record("\(source): no metric of \(expr) carries the label \(label) (\(metric) has \(labels.sorted()))")
                }
            }
        }
        #expect(await bridge.stop() == 0)
    }
}
