package dev.weft.cli;

import dev.weft.proto.agent.v1.Group;
import dev.weft.proto.agent.v1.GroupMember;
import dev.weft.proto.agent.v1.ListGroupsRequest;
import dev.weft.proto.agent.v1.ListTablesRequest;
import dev.weft.proto.agent.v1.Table;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static dev.weft.cli.Output.row;

/**
 * The groups the agent received from policy-service ({@code get addressgroups|ag}, {@code get appliedtogroups|atg},
 * as antctl has them) and the agent's flow tables for {@code get ovsflows -h}.
 */
final class Groups {

    /** A table cell lists this many members, then "+N more" (-o json/yaml list them all). */
    static final int TABLE_MEMBERS = 3;

    private Groups() {
    }

    @Command(name = "addressgroups", aliases = {"addressgroup", "ag"}, mixinStandardHelpOptions = true,
            description = "Address groups (rule peers) the agent holds, with their pods' IPs.")
    static class AddressGroups extends Weftctl.Base {
        @CommandLine.Parameters(arity = "0..1", description = "Group name.")
        String name;

        @Override
        Integer run() {
            Output.Format f = format();
            ListGroupsRequest r = ListGroupsRequest.newBuilder().setName(name == null ? "" : name).build();
            System.out.print(render(get.root.call(s -> s.listAddressGroups(r)).getGroupsList(), false, f));
            return 0;
        }
    }

    @Command(name = "appliedtogroups", aliases = {"appliedtogroup", "atg"}, mixinStandardHelpOptions = true,
            description = "Applied-to groups (the pods of this node that policies apply to).")
    static class AppliedToGroups extends Weftctl.Base {
        @CommandLine.Parameters(arity = "0..1", description = "Group name.")
        String name;

        @Override
        Integer run() {
            Output.Format f = format();
            ListGroupsRequest r = ListGroupsRequest.newBuilder().setName(name == null ? "" : name).build();
            System.out.print(render(get.root.call(s -> s.listAppliedToGroups(r)).getGroupsList(), true, f));
            return 0;
        }
    }

    /** NAME and POD-IPS (address groups) or PODS (applied-to groups); json/yaml: every member with pod and IPs. */
    static String render(List<Group> groups, boolean appliedTo, Output.Format f) {
        String column = appliedTo ? "PODS" : "POD-IPS";
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Group g : groups) {
            if (f == Output.Format.TABLE) {
                List<String> cells = new ArrayList<>();
                for (GroupMember m : g.getMembersList()) {
                    if (appliedTo) {
                        cells.add(m.getPod());
                    } else {
                        cells.addAll(m.getIpsList());
                    }
                }
                rows.add(row("NAME", g.getName(), column, abbreviate(cells)));
            } else {
                List<Map<String, Object>> members = new ArrayList<>();
                for (GroupMember m : g.getMembersList()) {
                    members.add(row("pod", m.getPod(), "ips", m.getIpsList()));
                }
                rows.add(row("name", g.getName(), "members", members));
            }
        }
        return f == Output.Format.TABLE ? Output.table(List.of("NAME", column), rows) : Output.structured(f, rows);
    }

    /** {@code [a b c] +2 more}: a group of thousands stays one readable line. */
    static String abbreviate(List<String> cells) {
        if (cells.isEmpty()) {
            return "<none>";
        }
        List<String> shown = cells.subList(0, Math.min(TABLE_MEMBERS, cells.size()));
        String s = "[" + String.join(" ", shown) + "]";
        return cells.size() > shown.size() ? s + " +" + (cells.size() - shown.size()) + " more" : s;
    }

    /** The flow tables as {@code get ovsflows -h} lists them: {@code   90\tIngressRule}. */
    static List<String> tableList(List<Table> tables) {
        List<String> lines = new ArrayList<>();
        for (Table t : tables) {
            lines.add("  " + t.getId() + "\t" + t.getName());
        }
        return lines;
    }

    /**
     * Prints the ovsflows usage with the agent's tables in its footer. Without an agent the flags and examples are
     * still shown, the tables are not (they are the agent's, never a copy here), and the exit code is 1.
     */
    static int ovsflowsHelp(CommandLine.Model.CommandSpec spec, Weftctl root) {
        List<String> footer = new ArrayList<>(List.of(spec.usageMessage().footer()));
        footer.add("");
        int rc = 0;
        try {
            List<Table> tables = root.call(s -> s.listTables(ListTablesRequest.getDefaultInstance())).getTablesList();
            footer.add("Weft OVS Flow Tables:");
            footer.addAll(tableList(tables));
        } catch (IllegalStateException e) {
            footer.add("Weft OVS Flow Tables: not shown (they come from the agent)");
            footer.add("  " + e.getMessage());
            rc = 1;
        }
        spec.usageMessage().footer(footer.toArray(String[]::new));
        spec.commandLine().usage(spec.commandLine().getOut());
        spec.commandLine().getOut().flush();
        return rc;
    }
}
