import java.lang.instrument.Instrumentation;

/**
 * Stands in for LocalStack's ddb-local-loader javaagent, which LocalStack downloads at first use
 * (not possible offline). The real one patches DynamoDB Local to allow more than 20 GSIs; this
 * one does nothing, so LocalStack's "java -javaagent:..." command line still starts.
 */
public final class DdbLocalLoader {
    private DdbLocalLoader() {}

    public static void premain(String args, Instrumentation instrumentation) {}
}
