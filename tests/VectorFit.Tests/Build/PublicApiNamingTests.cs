using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using VectorFit.Adapters;
using static TorchSharp.torch;

namespace VectorFit.Tests.Build;

/// <summary>
/// Holds the public API of the library (VectorFit.dll and VectorFit.Distributed.dll) to the naming rule of docs/api-guide.md: TorchSharp's snake_case for what mirrors a
/// TorchSharp/PyTorch concept (on modules, and on the AVF scheduler that sits beside <c>optimizer.step()</c>), PascalCase for
/// everything .NET-only; <c>(name, layer)</c> tuples like <c>named_modules()</c>; counts end in <c>Count</c>; a type's own options are
/// <c>Options</c>, anyone else's are named after their type; a lookup by name throws. Every public member of every exported type is
/// checked, so a new member that breaks the rule fails here.
/// </summary>
public sealed partial class PublicApiNamingTests
{
    /// <summary>
    /// Renames decided in docs/api-guide.md ("Decisions") and not applied yet, by the violation's key. Each entry must still be a
    /// violation (a stale entry fails), so the list empties itself as the renames land; nothing new may be added without a decision
    /// in the guide.
    /// </summary>
    private static readonly Dictionary<string, string> PendingRenames = new(StringComparer.Ordinal)
    {
    };

    /// <summary>TorchSharp's names for the concepts the library mirrors: spelled exactly so, and only on types that mirror TorchSharp objects.</summary>
    private static readonly HashSet<string> TorchSharpNames = new(StringComparer.Ordinal)
    {
        "forward", "weight", "bias", "sigma", "in_features", "out_features", "rank", "initial_sigma", "frozen_sigma",
        "svft_values", "svft_rows", "svft_cols", "step", "state_dict", "load_state_dict",
    };

    /// <summary>PascalCase spellings of mirrored concepts, which a module or the scheduler must not use, with the name to use.</summary>
    private static readonly Dictionary<string, string> PascalSpellings = new(StringComparer.Ordinal)
    {
        ["Forward"] = "forward", ["Weight"] = "weight", ["Bias"] = "bias", ["Sigma"] = "sigma", ["InFeatures"] = "in_features",
        ["OutFeatures"] = "out_features", ["Rank"] = "rank", ["InitialSigma"] = "initial_sigma", ["Step"] = "step",
        ["StateDict"] = "state_dict", ["GetState"] = "state_dict", ["LoadStateDict"] = "load_state_dict", ["LoadState"] = "load_state_dict",
    };

    /// <summary>The options types and the type each configures (whose own options property is <c>Options</c>).</summary>
    private static readonly Dictionary<Type, Type> OptionsOwners = new()
    {
        [typeof(AvfOptions)] = typeof(AvfScheduler),
        [typeof(VectorFitLinearOptions)] = typeof(VectorFitLinear),
        [typeof(SvftLinearOptions)] = typeof(SvftLinear),
    };

    [Fact]
    public void PublicApi_FollowsTheNamingRule_ExceptTheListedPendingRenames()
    {
        var violations = Violations();

        var unlisted = violations.Where(v => !PendingRenames.ContainsKey(v.Key)).Select(v => $"{v.Key}: {v.Value}").ToList();
        unlisted.Should().BeEmpty("every public name follows docs/api-guide.md (decide a new exception there first, then list it here)");
        var stale = PendingRenames.Keys.Where(k => !violations.ContainsKey(k)).ToList();
        stale.Should().BeEmpty("a rename that has been applied leaves the pending list");
    }

    [Fact]
    public void RuleCheck_CatchesEachKindOfDrift()
    {
        // The rule check must be able to fail: each kind of drift, on a type built for it, is reported.
        var found = Violations([typeof(Drift)]).Keys.ToList();

        found.Should().BeEquivalentTo(
        [
            "PublicApiNamingTests.Drift.Step", "PublicApiNamingTests.Drift.in_channels", "PublicApiNamingTests.Drift.Find",
            "PublicApiNamingTests.Drift.TrainableParameters", "PublicApiNamingTests.Drift.Avf", "PublicApiNamingTests.Drift.Lookup",
        ]);
    }

    private static Dictionary<string, string> Violations(IEnumerable<Type>? types = null)
    {
        var violations = new Dictionary<string, string>(StringComparer.Ordinal);
        var nullability = new NullabilityInfoContext();
        foreach (var type in types ?? typeof(VectorFitLinear).Assembly.GetExportedTypes().Concat(typeof(VectorFit.Distributed.MpiWorld).Assembly.GetExportedTypes()))
        {
            var mirrors = typeof(nn.Module).IsAssignableFrom(type) || typeof(optim.Optimizer).IsAssignableFrom(type) || type == typeof(AvfScheduler) || type == typeof(Drift);
            foreach (var member in type.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                // Constructors, accessors, operators, nested types (checked as types of their own) and compiler-generated members (a record's <Clone>$).
                if (member is ConstructorInfo || member is MethodBase { IsSpecialName: true } || member is FieldInfo { IsSpecialName: true } || member is Type
                    || member.Name.StartsWith('<'))
                {
                    continue;
                }

                // An override of a TorchSharp member (a module's named_buffers, get_buffer) keeps TorchSharp's name: not a name of ours.
                if (member is MethodInfo overriding && overriding.GetBaseDefinition().DeclaringType is { } origin && origin != overriding.DeclaringType
                    && origin.Assembly == typeof(nn.Module).Assembly)
                {
                    continue;
                }

                var key = $"{TypeName(type)}.{member.Name}";
                void Add(string why) => violations.TryAdd(key, why);

                if (TorchSharpNames.Contains(member.Name))
                {
                    if (!mirrors)
                    {
                        Add($"'{member.Name}' is TorchSharp's spelling, for modules and the scheduler; a .NET-only type uses PascalCase");
                    }
                }
                else if (!PascalCase().IsMatch(member.Name))
                {
                    Add($"'{member.Name}' is neither PascalCase nor one of TorchSharp's names the library mirrors ({string.Join(", ", TorchSharpNames)})");
                }

                if (mirrors && PascalSpellings.TryGetValue(member.Name, out var torchName))
                {
                    Add($"mirrors TorchSharp's '{torchName}', so it is spelled '{torchName}'");
                }

                var memberType = member switch { PropertyInfo pi => pi.PropertyType, FieldInfo fi => fi.FieldType, MethodInfo mi => mi.ReturnType, _ => null };
                if (mirrors && member.Name is "sigma" or "bias" or "weight" && memberType is not null && memberType != typeof(TorchSharp.Modules.Parameter))
                {
                    Add($"'{member.Name}' is a trainable parameter in TorchSharp's modules, but here it is a {memberType.Name}: name a frozen tensor frozen_{member.Name}");
                }

                foreach (var tupleName in TupleNames(member))
                {
                    if (char.IsUpper(tupleName[0]))
                    {
                        Add($"tuple element '{tupleName}': (name, module) pairs are lower-case, as named_modules() returns them");
                    }
                }

                if (member is PropertyInfo { PropertyType: var countType } && (countType == typeof(long) || countType == typeof(int)) && member.Name.EndsWith("Parameters", StringComparison.Ordinal))
                {
                    Add($"a count is named {member.Name[..^"Parameters".Length]}ParameterCount (GetTrainableParameters() returns the parameters)");
                }

                if (member is PropertyInfo property && property.PropertyType != type && OptionsOwners.TryGetValue(property.PropertyType, out var owner))
                {
                    var expected = type == owner ? "Options" : property.PropertyType.Name;
                    if (member.Name != expected)
                    {
                        Add($"a {property.PropertyType.Name} is named '{expected}' here ('Options' only on {owner.Name}, whose options they are)");
                    }
                }

                if (member is MethodInfo { IsStatic: true } method && method.GetParameters() is [{ ParameterType: var p }] && p == typeof(string)
                    && !method.Name.StartsWith("Try", StringComparison.Ordinal) && !method.ReturnType.IsValueType
                    && nullability.Create(method.ReturnParameter).ReadState == NullabilityState.Nullable)
                {
                    Add("a lookup by name throws (ArgumentException listing the known names), like AvfPresets.Get; TryGet(name, out value) is the optional form");
                }
            }
        }

        return violations;
    }

    private static IEnumerable<string> TupleNames(MemberInfo member)
    {
        var providers = member switch
        {
            MethodInfo m => m.GetParameters().Cast<ICustomAttributeProvider>().Append(m.ReturnParameter),
            PropertyInfo p => new ICustomAttributeProvider[] { p },
            FieldInfo f => new ICustomAttributeProvider[] { f },
            _ => Array.Empty<ICustomAttributeProvider>(),
        };
        return providers.SelectMany(p => p.GetCustomAttributes(typeof(TupleElementNamesAttribute), false).Cast<TupleElementNamesAttribute>())
            .SelectMany(a => a.TransformNames).OfType<string>();
    }

    private static string TypeName(Type type) => type.DeclaringType is { } outer ? $"{TypeName(outer)}.{type.Name}" : type.Name;

    [GeneratedRegex("^[A-Z][A-Za-z0-9]*$")]
    private static partial Regex PascalCase();

#pragma warning disable SA1401, CA1822, CA1024 // a type built to break the rule
    /// <summary>One member for each kind of drift; the check treats it as a TorchSharp-mirroring type.</summary>
    public sealed class Drift
    {
        public long in_channels => 0;

        public long TrainableParameters => 0;

        public AvfOptions Avf => AvfOptions.None;

        public static string? Lookup(string name) => name.Length > 0 ? name : null;

        public bool Step() => true;

        public IReadOnlyList<(string Name, VectorFitLinear Layer)> Find() => [];
    }
#pragma warning restore SA1401, CA1822, CA1024
}
