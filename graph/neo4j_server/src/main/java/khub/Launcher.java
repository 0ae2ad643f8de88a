package khub;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

/**
 * Starts an embedded Neo4j 5 with the Bolt connector on 127.0.0.1:PORT, for khub's tests and
 * local development. Usage: {@code Launcher HOME_DIR PORT [READY_FILE]}.
 *
 * <p>Authentication is off (the server only listens on loopback). When the database is up, the
 * launcher prints {@code KHUB_NEO4J_READY bolt://127.0.0.1:PORT} and, if given, writes that URI
 * to READY_FILE. It shuts the database down cleanly on SIGTERM/SIGINT.
 */
public final class Launcher {
    private Launcher() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Launcher HOME_DIR PORT [READY_FILE]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        Files.createDirectories(home);

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(home)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(GraphDatabaseSettings.transaction_timeout, java.time.Duration.ofMinutes(5))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            service.shutdown();
            stopped.countDown();
        }, "khub-neo4j-shutdown"));

        // Touch the default database so that it is fully started before we report readiness.
        service.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME).executeTransactionally("RETURN 1");
        String uri = "bolt://127.0.0.1:" + port;
        if (args.length > 2) {
            Files.writeString(Path.of(args[2]), uri + "\n");
        }
        System.out.println("KHUB_NEO4J_READY " + uri);
        System.out.flush();
        stopped.await();
    }
}
