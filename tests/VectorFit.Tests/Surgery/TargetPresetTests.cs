using TorchSharp.Modules;
using VectorFit.Tests.Models;

namespace VectorFit.Tests.Surgery;

/// <summary>
/// The role presets on trees named like the Hugging Face checkpoints of each architecture: which Linear layers
/// each selects and which role each gets (o versus f2 in particular), like PEFT's TEST_CASES table.
/// </summary>
[Collection("libtorch")]
public sealed class TargetPresetTests
{
    private static readonly Dictionary<string, (TargetPreset Preset, (string Name, LayerRole? Role)[] Layers)> Cases = new()
    {
        ["bert"] = (TargetPreset.Bert, new (string, LayerRole?)[]
        {
            ("bert.encoder.layer.0.attention.self.query", LayerRole.Query), ("bert.encoder.layer.0.attention.self.key", LayerRole.Key),
            ("bert.encoder.layer.0.attention.self.value", LayerRole.Value), ("bert.encoder.layer.0.attention.output.dense", LayerRole.AttentionOutput),
            ("bert.encoder.layer.0.intermediate.dense", LayerRole.FeedForward1), ("bert.encoder.layer.0.output.dense", LayerRole.FeedForward2),
            ("bert.pooler.dense", null), ("classifier", null),
        }),
        ["roberta"] = (TargetPreset.Roberta, new (string, LayerRole?)[]
        {
            ("roberta.encoder.layer.3.attention.self.query", LayerRole.Query), ("roberta.encoder.layer.3.attention.output.dense", LayerRole.AttentionOutput),
            ("roberta.encoder.layer.3.output.dense", LayerRole.FeedForward2), ("classifier.dense", null), ("classifier.out_proj", null),
        }),
        ["deberta-v2"] = (TargetPreset.DebertaV2, new (string, LayerRole?)[]
        {
            ("deberta.encoder.layer.0.attention.self.query_proj", LayerRole.Query), ("deberta.encoder.layer.0.attention.self.key_proj", LayerRole.Key),
            ("deberta.encoder.layer.0.attention.self.value_proj", LayerRole.Value), ("deberta.encoder.layer.0.attention.output.dense", LayerRole.AttentionOutput),
            ("deberta.encoder.layer.0.intermediate.dense", LayerRole.FeedForward1), ("deberta.encoder.layer.0.output.dense", LayerRole.FeedForward2),
            ("pooler.dense", null), ("classifier", null),
        }),
        ["vit"] = (TargetPreset.Vit, new (string, LayerRole?)[]
        {
            ("vit.encoder.layer.0.attention.attention.query", LayerRole.Query), ("vit.encoder.layer.0.attention.attention.key", LayerRole.Key),
            ("vit.encoder.layer.0.attention.attention.value", LayerRole.Value), ("vit.encoder.layer.0.attention.output.dense", LayerRole.AttentionOutput),
            ("vit.encoder.layer.0.intermediate.dense", LayerRole.FeedForward1), ("vit.encoder.layer.0.output.dense", LayerRole.FeedForward2),
            ("classifier", null),
        }),
        ["bart"] = (TargetPreset.Bart, NamedTree.BartNames.Select(n => (n, BartRole(n))).ToArray()),
        ["llama"] = (TargetPreset.Llama, new (string, LayerRole?)[]
        {
            ("model.layers.0.self_attn.q_proj", LayerRole.Query), ("model.layers.0.self_attn.k_proj", LayerRole.Key),
            ("model.layers.0.self_attn.v_proj", LayerRole.Value), ("model.layers.0.self_attn.o_proj", LayerRole.AttentionOutput),
            ("model.layers.0.mlp.gate_proj", LayerRole.FeedForward1), ("model.layers.0.mlp.up_proj", LayerRole.FeedForward1),
            ("model.layers.0.mlp.down_proj", LayerRole.FeedForward2), ("lm_head", null),
        }),
    };

    public static TheoryData<string> PresetNames => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(PresetNames))]
    public void Preset_SelectsTheArchitecturesLayers_WithTheirRoles(string presetName)
    {
        var (preset, layers) = Cases[presetName];
        using var model = NamedTree.Build(layers.Select(l => l.Name).ToArray());

        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = preset });

        var expected = layers.Where(l => l.Role is not null).ToDictionary(l => l.Name, l => l.Role!.Value);
        report.Layers.ToDictionary(l => l.Name, l => l.Role).Should().Equal(expected);
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module);
        foreach (var (name, role) in layers)
        {
            if (role is null)
            {
                modules[name].Should().BeOfType<Linear>($"the {presetName} preset must leave '{name}' alone");
            }
            else
            {
                modules[name].Should().BeOfType<VectorFitLinear>();
            }
        }
    }

    [Theory]
    [InlineData("encoder.layer.0.attention.output.dense", LayerRole.AttentionOutput)]
    [InlineData("encoder.layer.0.output.dense", LayerRole.FeedForward2)]
    [InlineData("output.dense", LayerRole.FeedForward2)]
    [InlineData("attention.output.dense", LayerRole.AttentionOutput)]
    [InlineData("encoder.layer.0.attention.self.querying", null)]
    [InlineData("encoder.layer.0.attention.self.subquery", null)]
    public void RoleOf_TakesTheLongestSuffixAtADotBoundary(string name, LayerRole? role)
        => TargetPreset.Bert.RoleOf(name).Should().Be(role);

    [Fact]
    public void Get_FindsBuiltInPresets_AndThrowsNamingTheKnownOnes()
    {
        TargetPreset.Get("BERT").Should().BeSameAs(TargetPreset.Bert);
        TargetPreset.Get("deberta-v3").Should().BeSameAs(TargetPreset.DebertaV2);
        var unknown = () => TargetPreset.Get("gpt2");
        unknown.Should().Throw<ArgumentException>().WithMessage("No target preset called 'gpt2'. Known presets: bert, *llama*").And.ParamName.Should().Be("name");
        TargetPreset.TryGet("gpt2", out var none).Should().BeFalse();
        none.Should().BeNull();
        TargetPreset.TryGet("Llama", out var llama).Should().BeTrue();
        llama.Should().BeSameAs(TargetPreset.Llama);
    }

    [Fact]
    public void Validate_RejectsEmptyAndRepeatedSuffixes()
    {
        var empty = () => new TargetPreset("mine", Array.Empty<RoleTarget>()).Validate();
        empty.Should().Throw<ArgumentException>().WithMessage("TargetPreset 'mine' has no targets*");

        var repeated = () => new TargetPreset("mine", new[] { new RoleTarget("q", LayerRole.Query), new RoleTarget("q", LayerRole.Key) }).Validate();
        repeated.Should().Throw<ArgumentException>().WithMessage("*lists the suffix 'q' twice*");

        var malformed = () => new TargetPreset("mine", new[] { new RoleTarget(".q", LayerRole.Query) }).Validate();
        malformed.Should().Throw<ArgumentException>().WithMessage("*'.q' is not a dotted module name*");
    }

    [Fact]
    public void CustomPreset_GivesRolesToAnyArchitecture()
    {
        using var model = NamedTree.Build("blocks.0.attn.qkv", "blocks.0.attn.proj", "blocks.0.mlp.fc1", "blocks.0.mlp.fc2");
        var preset = new TargetPreset("timm-vit", new[]
        {
            new RoleTarget("attn.qkv", LayerRole.Query), new RoleTarget("attn.proj", LayerRole.AttentionOutput),
            new RoleTarget("mlp.fc1", LayerRole.FeedForward1), new RoleTarget("mlp.fc2", LayerRole.FeedForward2),
        });

        var report = ModelSurgery.Apply(model, new VectorFitConfig { Preset = preset, Variant = VectorFitVariant.SigmaAttention });

        report.Layers.Select(l => l.Name).Should().Equal("blocks.0.attn.qkv", "blocks.0.attn.proj");
    }

    private static LayerRole? BartRole(string name) => name switch
    {
        _ when name.StartsWith("classification_head", StringComparison.Ordinal) => null,
        _ when name.EndsWith("q_proj", StringComparison.Ordinal) => LayerRole.Query,
        _ when name.EndsWith("k_proj", StringComparison.Ordinal) => LayerRole.Key,
        _ when name.EndsWith("v_proj", StringComparison.Ordinal) => LayerRole.Value,
        _ when name.EndsWith("out_proj", StringComparison.Ordinal) => LayerRole.AttentionOutput,
        _ when name.EndsWith("fc1", StringComparison.Ordinal) => LayerRole.FeedForward1,
        _ => LayerRole.FeedForward2,
    };
}
