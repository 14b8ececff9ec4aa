package dev.weft.agent.pipeline;

import dev.weft.agent.openflow.OfEndpoint;
import dev.weft.agent.openflow.RegField;
import dev.weft.agent.openflow.RegMark;
import dev.weft.agent.policy.NetworkPolicyFeature;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * docs/agent-datapath.md says what the code does: its feature, table, register/mark, priority and cookie tables list
 * exactly what the code declares, in the code's order and under the code's names.
 */
class DatapathDocTest {

    static final Path DOC = Path.of(System.getProperty("basedir", ".")).resolve("../docs/agent-datapath.md");

    static List<PipelineFeature> allFeatures() {
        Datapath dp = new Datapath(OfEndpoint.parse("unix:/nonexistent/weft-doc-test.mgmt"), new Datapath.RoundStore() {
            public int load() {
                return 0;
            }

            public void save(int round) {
            }
        });
        dp.register(new NetworkPolicyFeature(dp, () -> { }));
        dp.register(new dev.weft.agent.service.ServiceFeature(dp));
        List<PipelineFeature> features = dp.features();
        dp.close();
        return features;
    }

    /** The rows of the markdown table under this header line, cells trimmed and without backticks. */
    static List<List<String>> table(String header) throws IOException {
        List<String> lines = Files.readAllLines(DOC);
        int at = lines.indexOf(header);
        assertTrue(at >= 0, "docs/agent-datapath.md has no table " + header);
        List<List<String>> rows = new ArrayList<>();
        for (int i = at + 2; i < lines.size() && lines.get(i).startsWith("|"); i++) {
            String l = lines.get(i);
            rows.add(Arrays.stream(l.substring(1, l.length() - 1).split("\\|", -1)).map(c -> c.trim().replace("`", ""))
                    .toList());
        }
        return rows;
    }

    static List<List<String>> columns(List<List<String>> rows, int n) {
        return rows.stream().map(r -> r.subList(0, n)).toList();
    }

    static String names(List<?> values) {
        return values.stream().map(Object::toString).collect(Collectors.joining(", "));
    }

    @Test
    void featuresAreTheRegisteredOnes() throws IOException {
        List<List<String>> expected = new ArrayList<>();
        for (PipelineFeature f : allFeatures()) {
            String cls = f.getClass().getSimpleName() + (f.getClass().getPackage() == Datapath.class.getPackage() ? ""
                    : " (" + f.getClass().getPackageName() + ")");
            PipelineFeature.Declaration d = f.declaration();
            expected.add(List.of(d.name(), cls, names(d.tables().stream().map(t -> t.id).toList()),
                    names(d.categories().stream().sorted().toList())));
        }
        assertEquals(expected, columns(table("| feature | class | tables | cookie categories | reacts to |"), 4));
    }

    @Test
    void tablesAreThePipelineTables() throws IOException {
        List<PipelineFeature> features = allFeatures();
        List<List<String>> expected = new ArrayList<>();
        for (PipelineTable t : PipelineTable.ordered()) {
            List<String> in = features.stream().filter(f -> !(f instanceof PipelineDefaultsFeature))
                    .map(PipelineFeature::declaration).filter(d -> d.tables().contains(t))
                    .map(PipelineFeature.Declaration::name).toList();
            expected.add(List.of(Integer.toString(t.id), t.displayName, t.missAction(), names(in)));
        }
        assertEquals(expected, columns(table("| id | name | miss | features | flows |"), 4));
    }

    @Test
    void registersMarksAndPrioritiesAreTheNamedOnes() throws IOException {
        List<List<String>> expected = new ArrayList<>();
        for (RegField f : PipelineFields.fields()) {
            expected.add(List.of(f.name(), f.ofctlName(), ""));
            for (RegMark m : PipelineFields.marks()) {
                if (m.field().equals(f)) {
                    expected.add(List.of(m.name(), f.ofctlName(), Long.toString(m.value())));
                }
            }
        }
        assertEquals(expected, columns(table("| name | bits | value | meaning |"), 3));
        assertTrue(Files.readString(DOC).contains("`CT_ZONE` = " + PipelineFields.CT_ZONE), "the conntrack zone");
        List<List<String>> priorities = Arrays.stream(FlowPriority.values())
                .map(p -> List.of(p.name(), Integer.toString(p.value))).toList();
        assertEquals(priorities, columns(table("| priority | value | used for |"), 2));
    }

    @Test
    void cookieCategoriesHaveTheirCodes() throws IOException {
        List<List<String>> expected = Arrays.stream(Cookie.Category.values())
                .map(c -> List.of(Integer.toString(c.code()), c.name())).toList();
        assertEquals(expected, columns(table("| code | category | object id |"), 2));
    }
}
