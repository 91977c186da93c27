package orbiter.activemq;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.security.Principal;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

import org.apache.activemq.broker.Broker;
import org.apache.activemq.broker.BrokerPlugin;
import org.apache.activemq.broker.ConnectionContext;
import org.apache.activemq.command.ActiveMQDestination;
import org.apache.activemq.command.ConnectionInfo;
import org.apache.activemq.jaas.GroupPrincipal;
import org.apache.activemq.jaas.UserPrincipal;
import org.apache.activemq.security.AbstractAuthenticationBroker;
import org.apache.activemq.security.AuthorizationBroker;
import org.apache.activemq.security.AuthorizationMap;
import org.apache.activemq.security.SecurityContext;

/**
 * Orbiter's broker security: who may connect, and who may read and write which destination.
 *
 * Authentication: every user's password is derived from one broker secret,
 * base64url(HMAC-SHA256(secret, "orbiter-stomp:" + user)) without padding, so the broker
 * holds no per-host state and a new host needs no broker change. The secret file holds the
 * current secret on its first line; further lines are earlier secrets still accepted while
 * a rotation is under way (the control plane derives from the first line only). The control plane connects
 * as controlPlaneUser; an agent connects as its certname (a DNS name: [a-z0-9.-] only).
 * No user, an unknown shape of user or a wrong password: the connection is refused.
 *
 * Authorization (one rule, no per-host entries): the agent "X" may read
 * queue://orbiter.agent.X and topic://orbiter.all, and write queue://orbiter.replies;
 * the control plane may read, write and create every destination. Wildcard, composite and
 * temporary destinations are the control plane's only. Every user may create and write the
 * advisory topics the broker updates on a client's behalf; only the control plane reads them
 * (an expiry advisory carries the expired message).
 *
 * activemq.xml:
 *   <plugins>
 *     <bean xmlns="http://www.springframework.org/schema/beans" class="orbiter.activemq.OrbiterSecurityPlugin">
 *       <property name="secretFile" value="/etc/activemq/orbiter-broker.secret"/>
 *     </bean>
 *   </plugins>
 */
public class OrbiterSecurityPlugin implements BrokerPlugin {
    static final String AGENT_QUEUE_PREFIX = "orbiter.agent.";
    static final String BROADCAST_TOPIC = "orbiter.all";
    static final String REPLIES_QUEUE = "orbiter.replies";
    static final String ADVISORY_PREFIX = "ActiveMQ.Advisory.";
    static final Pattern CERTNAME = Pattern.compile(
        "^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$");
    static final GroupPrincipal CONTROL_PLANE = new GroupPrincipal("orbiter-control-plane");
    static final GroupPrincipal AGENTS = new GroupPrincipal("orbiter-agents");
    static final Set<Principal> ANY_USER = Set.of(CONTROL_PLANE, AGENTS);
    static final Set<Principal> CONTROL_PLANE_ONLY = Set.of(CONTROL_PLANE);

    private String secretFile;
    private String controlPlaneUser = "orbiter_control_plane";

    public void setSecretFile(String secretFile) { this.secretFile = secretFile; }
    public void setControlPlaneUser(String user) { this.controlPlaneUser = user; }

    @Override
    public Broker installPlugin(Broker broker) throws Exception {
        if (secretFile == null) {
            throw new IllegalArgumentException("OrbiterSecurityPlugin: secretFile is required");
        }
        List<byte[]> secrets = new ArrayList<>();
        for (String line : Files.readAllLines(Paths.get(secretFile), StandardCharsets.UTF_8)) {
            byte[] secret = line.strip().getBytes(StandardCharsets.UTF_8);
            if (secret.length == 0) {
                continue;
            }
            if (secret.length < 32) {
                throw new IllegalArgumentException("OrbiterSecurityPlugin: " + secretFile + " line "
                    + (secrets.size() + 1) + " holds fewer than 32 bytes; generate one with `openssl rand -base64 48`");
            }
            secrets.add(secret);
        }
        if (secrets.isEmpty()) {
            throw new IllegalArgumentException("OrbiterSecurityPlugin: " + secretFile + " holds no secret");
        }
        // Authentication outside, authorization inside: a connection has its users' principals
        // before any consumer, producer or destination of it is checked.
        return new Authentication(new AuthorizationBroker(broker, new Rules()), secrets, controlPlaneUser);
    }

    /** The password of `user`: base64url(HMAC-SHA256(secret, "orbiter-stomp:" + user)), no padding. */
    static String password(byte[] secret, String user) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(secret, "HmacSHA256"));
        byte[] digest = mac.doFinal(("orbiter-stomp:" + user).getBytes(StandardCharsets.UTF_8));
        return Base64.getUrlEncoder().withoutPadding().encodeToString(digest);
    }

    static final class Authentication extends AbstractAuthenticationBroker {
        private final List<byte[]> secrets;
        private final String controlPlaneUser;

        Authentication(Broker next, List<byte[]> secrets, String controlPlaneUser) {
            super(next);
            this.secrets = secrets;
            this.controlPlaneUser = controlPlaneUser;
        }

        @Override
        public void addConnection(ConnectionContext context, ConnectionInfo info) throws Exception {
            SecurityContext security = context.getSecurityContext();
            if (security == null) {
                security = authenticate(info.getUserName(), info.getPassword(), null);
                context.setSecurityContext(security);
                securityContexts.add(security);
            }
            try {
                super.addConnection(context, info);
            } catch (Exception e) {
                securityContexts.remove(security);
                context.setSecurityContext(null);
                throw e;
            }
        }

        @Override
        public SecurityContext authenticate(String user, String password, X509Certificate[] certs) {
            if (user == null || user.isEmpty() || password == null) {
                throw new SecurityException("User name [" + user + "] or password is invalid.");
            }
            boolean controlPlane = user.equals(controlPlaneUser);
            if (!controlPlane && !CERTNAME.matcher(user).matches()) {
                throw new SecurityException("User name [" + user + "] or password is invalid.");
            }
            boolean matched = false;
            for (byte[] secret : secrets) {  // every one, matched or not: no timing hint which
                try {
                    matched |= MessageDigest.isEqual(password(secret, user).getBytes(StandardCharsets.UTF_8),
                                                     password.getBytes(StandardCharsets.UTF_8));
                } catch (Exception e) {
                    throw new SecurityException("cannot check the password: " + e);
                }
            }
            if (!matched) {
                throw new SecurityException("User name [" + user + "] or password is invalid.");
            }
            Set<Principal> principals = new HashSet<>();
            principals.add(new UserPrincipal(user));
            principals.add(controlPlane ? CONTROL_PLANE : AGENTS);
            Set<Principal> frozen = Collections.unmodifiableSet(principals);
            return new SecurityContext(user) {
                @Override
                public Set<Principal> getPrincipals() { return frozen; }
            };
        }
    }

    /** The destination rules: the principals allowed to read, write or create a destination. */
    static final class Rules implements AuthorizationMap {
        @Override public Set<?> getTempDestinationAdminACLs() { return CONTROL_PLANE_ONLY; }
        @Override public Set<?> getTempDestinationReadACLs() { return CONTROL_PLANE_ONLY; }
        @Override public Set<?> getTempDestinationWriteACLs() { return CONTROL_PLANE_ONLY; }

        @Override
        public Set<?> getReadACLs(ActiveMQDestination destination) {
            if (plain(destination) && destination.isTopic()
                    && destination.getPhysicalName().equals(BROADCAST_TOPIC)) {
                return ANY_USER;
            }
            return ownAgentQueue(destination);
        }

        @Override
        public Set<?> getWriteACLs(ActiveMQDestination destination) {
            if (plain(destination) && destination.isQueue()
                    && destination.getPhysicalName().equals(REPLIES_QUEUE)) {
                return ANY_USER;
            }
            return advisory(destination) ? ANY_USER : CONTROL_PLANE_ONLY;
        }

        @Override
        public Set<?> getAdminACLs(ActiveMQDestination destination) {
            // Creating a destination on first use: the ones a user may read or write.
            Set<Principal> allowed = new HashSet<>();
            for (Object p : getReadACLs(destination)) allowed.add((Principal) p);
            for (Object p : getWriteACLs(destination)) allowed.add((Principal) p);
            return allowed;
        }

        private static boolean plain(ActiveMQDestination destination) {
            return !destination.isComposite() && !destination.isPattern() && !destination.isTemporary();
        }

        private static boolean advisory(ActiveMQDestination destination) {
            return plain(destination) && destination.isTopic()
                && destination.getPhysicalName().startsWith(ADVISORY_PREFIX);
        }

        private static Set<Principal> ownAgentQueue(ActiveMQDestination destination) {
            String name = destination.getPhysicalName();
            if (plain(destination) && destination.isQueue() && name.startsWith(AGENT_QUEUE_PREFIX)) {
                String certname = name.substring(AGENT_QUEUE_PREFIX.length());
                if (CERTNAME.matcher(certname).matches()) {
                    return Set.of(CONTROL_PLANE, new UserPrincipal(certname));
                }
            }
            return CONTROL_PLANE_ONLY;
        }
    }
}
