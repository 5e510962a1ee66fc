using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace VectorFit.Tests.Build;

/// <summary>
/// Guards against a TorchSharp lifetime race (0.105.1 and 0.107.0): a <c>Scalar</c> made on the fly — by an
/// implicit conversion (<c>t.mul(0.5)</c>, <c>t * 2</c>), by <c>ToScalar()</c> passed straight on, or inside
/// TorchSharp itself (<c>a + b</c> and <c>a.add(b)</c> call <c>add(b, 1)</c>) — is unreachable as soon as its
/// handle is read, so a garbage collection started by another thread during the native call can finalize it
/// and free the native scalar while libtorch reads it: a wrong value or "Expected false to be true … toFloat"
/// (seen in CI). The library and the sample therefore hold every Scalar in a <c>using</c> local (or a static
/// field) for the whole call. This test compiles their sources with Roslyn and names every place that does not.
/// </summary>
public sealed class ScalarLifetimeTests
{
    /// <summary>TorchSharp members that make a Scalar internally and do not keep it alive (checked in its source).</summary>
    private static readonly HashSet<string> HiddenScalarMembers =
    [
        "Tensor.add(Tensor)", "Tensor.add(Scalar)", "Tensor.add_(Tensor)", "Tensor.add_(Scalar)",
        "Tensor.addcdiv(Tensor, Tensor)", "Tensor.addcdiv_(Tensor, Tensor)",
        "TensorExtensionMethods.ToSingle(Tensor)", "TensorExtensionMethods.ToDouble(Tensor)",
        "TensorExtensionMethods.ToHalf(Tensor)", "TensorExtensionMethods.ToInt32(Tensor)",
        "TensorExtensionMethods.ToInt64(Tensor)", "TensorExtensionMethods.ToInt16(Tensor)",
        "TensorExtensionMethods.ToByte(Tensor)", "TensorExtensionMethods.ToSByte(Tensor)",
        "TensorExtensionMethods.ToBoolean(Tensor)",
    ];

    [Theory]
    [InlineData("src/VectorFit", "VectorFit")]
    [InlineData("src/VectorFit.Transformers", "VectorFit.Transformers")]
    [InlineData("src/VectorFit.Distributed", "VectorFit.Distributed")]
    [InlineData("samples/GlueFineTune", "GlueFineTune")]
    public void EveryScalarPassedToLibtorchIsHeldForTheWholeCall(string directory, string assemblyName)
    {
        var findings = Scan(SourcesOf(directory), assemblyName);
        findings.Should().BeEmpty(
            "a Scalar must live in a `using` local (or static field) while libtorch uses it; write " +
            "`using var s = value.ToScalar(); t.mul(s)`, and `a.add(b, one)` with a held `one` instead of `a + b`");
    }

    [Fact]
    public void TheScanFindsEachKindOfUnheldScalar()
    {
        const string source = """
            using TorchSharp;
            using static TorchSharp.torch;
            static class Probe
            {
                static readonly Scalar Held = 1.0.ToScalar();
                static void Run(Tensor a, Tensor b, IEnumerable<TorchSharp.Modules.Parameter> p)
                {
                    using var half = 0.5.ToScalar();
                    using var ok1 = a.mul(half);
                    using var ok2 = a.add(b, Held);
                    using var bad1 = a.mul(0.5);
                    using var bad2 = a + b;
                    using var bad3 = a.add(b);
                    using var bad4 = a.mul(2.0.ToScalar());
                    var bad5 = a.sum().ToDouble();
                    using var bad6 = a * 3;
                    using var bad7 = optim.SGD(p, 0.1);
                    using var bad8 = new TorchSharp.Modules.Adam(p, 0.1);
                    using var ok3 = new VectorFit.Optim.AdamW(p, 0.1);
                    using var bad9 = arange(Held, dtype: ScalarType.Int64);
                    using var ok4 = arange(Held, Held, Held, dtype: ScalarType.Int64);
                    var bad10 = (double)a;
                }
            }
            """;
        var findings = Scan([("Probe.cs", source)], "Probe");
        findings.Should().HaveCount(10, "each bad line is one finding: {0}", string.Join("; ", findings));
        findings.Select(f => f.Split(':')[1]).Should().Equal("11", "12", "13", "14", "15", "16", "17", "18", "20", "22");
    }

    private static IEnumerable<(string Path, string Text)> SourcesOf(string directory)
    {
        var root = Path.Combine(RepositoryRoot(), directory);
        return Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")
                     && !p.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .OrderBy(p => p, StringComparer.Ordinal)
            .Select(p => (Path.GetRelativePath(RepositoryRoot(), p), File.ReadAllText(p)));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "VectorFit.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("VectorFit.sln not found above " + AppContext.BaseDirectory);
    }

    private static List<string> Scan(IEnumerable<(string Path, string Text)> sources, string assemblyName)
    {
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = sources.Select(s => CSharpSyntaxTree.ParseText(s.Text, options, s.Path)).ToList();
        // The SDK's implicit usings (ImplicitUsings=enable in Directory.Build.props).
        var implicitUsings = CSharpSyntaxTree.ParseText(
            "global using System; global using System.Collections.Generic; global using System.IO; global using System.Linq; " +
            "global using System.Net.Http; global using System.Threading; global using System.Threading.Tasks;",
            options, "ImplicitUsings.g.cs");
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!)
            .Split(Path.PathSeparator)
            .Concat([typeof(TorchSharp.torch).Assembly.Location])
            .Concat(assemblyName == "VectorFit" ? [] : [typeof(VectorFitLinear).Assembly.Location])
            .Concat(assemblyName == "GlueFineTune" ? [typeof(VectorFit.Transformers.Models.BertModel).Assembly.Location] : [])
            .Distinct()
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(
            assemblyName, trees.Append(implicitUsings), references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable, allowUnsafe: true));

        // CS8795: [GeneratedRegex] partial methods, whose bodies the (absent) regex source generator would write.
        var errors = compilation.GetDiagnostics()
            .Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS8795").Take(5).ToList();
        errors.Should().BeEmpty("the scan must bind the sources as the build does");
        var scalarType = compilation.GetTypeByMetadataName("TorchSharp.Scalar")!;
        var optimizerType = compilation.GetTypeByMetadataName("TorchSharp.torch+optim+Optimizer")!;
        optimizerType.Should().NotBeNull("the scan must know TorchSharp's optimizer base type");
        var findings = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            var roots = tree.GetRoot().DescendantNodes()
                .Select(n => model.GetOperation(n))
                .Where(o => o is not null && o.Parent is null);
            foreach (var operation in roots.SelectMany(r => r!.DescendantsAndSelf()))
            {
                var node = operation.Syntax;
                var problem = operation switch
                {
                    IConversionOperation { Conversion.IsUserDefined: true } c
                        when SymbolEqualityComparer.Default.Equals(c.Type, scalarType) && !IsHeld(node) => "implicit Scalar conversion",
                    IInvocationOperation i when SymbolEqualityComparer.Default.Equals(i.Type, scalarType) && !IsHeld(node)
                        => $"Scalar from {i.TargetMethod.Name}() not held",
                    IInvocationOperation i when IsListed(i.TargetMethod)
                        => $"{Describe(i.TargetMethod)} makes an unheld Scalar inside TorchSharp",
                    IObjectCreationOperation { Constructor: { } ctor } when IsListed(ctor)
                        => $"{Describe(ctor)} makes an unheld Scalar inside TorchSharp",
                    IConversionOperation { OperatorMethod: { } conversion } when IsListed(conversion)
                        => $"{Describe(conversion)} ((T)tensor) makes an unheld Scalar inside TorchSharp",
                    IPropertyReferenceOperation p when p.Property.ContainingAssembly?.Name == "TorchSharp"
                        && AuditedMembers.Value.Contains($"{p.Property.ContainingType.Name}.{p.Property.Name}")
                        => $"{p.Property.ContainingType.Name}.{p.Property.Name} makes an unheld Scalar inside TorchSharp",
                    // Tensor + Tensor calls add(right, 1); an operator with a number or Scalar operand converts it inside.
                    IBinaryOperation { OperatorMethod: { ContainingType.Name: "Tensor" } m }
                        when m.ContainingType.ContainingType?.Name == "torch"
                          && (m.Name == "op_Addition" || m.Parameters.Any(p => p.Type.Name != "Tensor"))
                        => $"Tensor operator {m.Name}({string.Join(", ", m.Parameters.Select(p => p.Type.Name))}) makes an unheld Scalar inside TorchSharp",
                    // TorchSharp's optimizers convert their hyperparameters to unheld Scalars in every step().
                    IInvocationOperation i when IsTorchSharpOptimizer(i.Type, optimizerType)
                        => $"TorchSharp optimizer {i.Type!.Name} makes unheld Scalars in step(): use VectorFit.Optim.AdamW",
                    IObjectCreationOperation o when IsTorchSharpOptimizer(o.Type, optimizerType)
                        => $"TorchSharp optimizer {o.Type!.Name} makes unheld Scalars in step(): use VectorFit.Optim.AdamW",
                    _ => null,
                };
                if (problem is not null)
                {
                    var line = tree.GetLineSpan(node.Span).StartLinePosition.Line + 1;
                    findings.Add($"{tree.FilePath}:{line}: {problem}: {node}");
                }
            }
        }

        return findings;
    }

    /// <summary>An optimizer type TorchSharp defines (VectorFit.Optim.AdamW derives from one, but is declared elsewhere).</summary>
    private static bool IsTorchSharpOptimizer(ITypeSymbol? type, INamedTypeSymbol optimizerType)
    {
        if (type is null || type.ContainingAssembly?.Name != "TorchSharp")
        {
            return false;
        }

        for (var t = type; t is not null; t = t.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(t, optimizerType))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The audited list (TorchSharpHiddenScalars.txt: every public TorchSharp member whose body, or a member it calls,
    /// makes an unheld Scalar) plus the members named above. Only TorchSharp's own declarations match, so an override
    /// of ours with the same name (VectorFit.Optim.AdamW.step) does not.
    /// </summary>
    private static bool IsListed(IMethodSymbol method)
    {
        var m = method.ReducedFrom ?? method;
        return m.ContainingAssembly?.Name == "TorchSharp"
            && (HiddenScalarMembers.Contains(Describe(m)) || AuditedMembers.Value.Contains(Describe(m)));
    }

    private static readonly Lazy<HashSet<string>> AuditedMembers = new(() =>
        File.ReadLines(Path.Combine(RepositoryRoot(), "tests", "VectorFit.Tests", "Build", "TorchSharpHiddenScalars.txt"))
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToHashSet(StringComparer.Ordinal));

    private static string Describe(IMethodSymbol method)
    {
        var m = method.ReducedFrom ?? method;
        return $"{m.ContainingType.Name}.{m.Name}({string.Join(", ", m.Parameters.Select(p => p.Type.Name))})";
    }

    /// <summary>A Scalar is held when it initialises a <c>using</c> local or a static field.</summary>
    private static bool IsHeld(SyntaxNode node)
    {
        var parent = node.Parent;
        while (parent is ParenthesizedExpressionSyntax or CastExpressionSyntax)
        {
            parent = parent.Parent;
        }

        if (parent is not EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax declaration } })
        {
            return false;
        }

        return declaration.Parent switch
        {
            LocalDeclarationStatementSyntax local => local.UsingKeyword != default,
            UsingStatementSyntax => true,
            FieldDeclarationSyntax field => field.Modifiers.Any(SyntaxKind.StaticKeyword),
            _ => false,
        };
    }
}
