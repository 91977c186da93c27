"""Who am I (roles per environment), and my API tokens."""

from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from orbiter.accounts import roles
from orbiter.accounts.models import ApiToken
from orbiter.accounts.tokens import token_create, token_revoke
from orbiter.api import access
from orbiter.api.fields import valid
from orbiter.api.schema import errors
from orbiter.catalog.models import Environment
from orbiter.common.errors import Forbidden, NotFound


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    is_superuser = serializers.BooleanField()
    token = serializers.CharField(allow_null=True, help_text="name of the API token used, if any")
    roles = serializers.DictField(child=serializers.CharField(allow_null=True),
                                  help_text="environment name -> your role there")


class Me(APIView):
    @extend_schema(operation_id="me_retrieve", responses={200: MeOut, **errors()})
    def get(self, request):
        user = request.user
        token = getattr(user, roles.TOKEN_ATTRIBUTE, None)
        return Response({
            "username": user.get_username(), "is_superuser": user.is_superuser,
            "token": token.name if token else None,
            "roles": {env.name: roles.role_for(user, env) for env in Environment.objects.order_by("order", "name")},
        })


class TokenOut(serializers.ModelSerializer):
    applications = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    environments = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)
    user = serializers.CharField(source="user.get_username")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "user", "max_role", "applications", "environments", "created_at",
                  "expires_at", "last_used_at", "revoked_at"]


class TokenCreatedOut(TokenOut):
    token = serializers.SerializerMethodField(help_text="the token itself: shown now, never again")

    class Meta(TokenOut.Meta):
        fields = [*TokenOut.Meta.fields, "token"]

    def get_token(self, _) -> str:
        return self.context["raw"]


class TokenList(generics.ListAPIView):
    """Your API tokens (all of them for a superuser). Only their prefixes: tokens are stored hashed."""

    serializer_class = TokenOut

    @extend_schema(operation_id="tokens_list", responses={200: TokenOut(many=True), **errors()})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return ApiToken.objects.none()
        tokens = ApiToken.objects.select_related("user").prefetch_related("applications", "environments")
        return tokens if _full_superuser(self.request.user) else tokens.filter(user=self.request.user)


class TokenCreate(APIView):
    """Create an API token acting as you, limited to some applications and environments (empty:
    all) and to `max_role`. Only from a signed-in session, not with another token."""

    class TokenIn(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        applications = serializers.ListField(child=serializers.CharField(max_length=63), required=False,
                                             default=list, max_length=100)
        environments = serializers.ListField(child=serializers.CharField(max_length=63), required=False,
                                             default=list, max_length=100)
        max_role = serializers.ChoiceField(choices=list(roles.ROLES), default=roles.DEPLOYER)
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    @extend_schema(operation_id="tokens_create", request=TokenIn, responses={201: TokenCreatedOut, **errors(400)})
    def post(self, request):
        if getattr(request.user, roles.TOKEN_ATTRIBUTE, None) is not None:
            raise Forbidden("create API tokens from a signed-in session or with `orbiter tokens create`, "
                            "not with another token")
        data = valid(self.TokenIn, request)
        token, raw = token_create(user=request.user, actor=access.actor(request), **data)
        return Response(TokenCreatedOut(token, context={"raw": raw}).data, status=status.HTTP_201_CREATED)


class TokenRevoke(APIView):
    @extend_schema(operation_id="tokens_revoke", responses={200: TokenOut, **errors(404)})
    def delete(self, request, token_id: int):
        token = ApiToken.objects.filter(pk=token_id).first()
        if token is None or (token.user_id != request.user.pk and not _full_superuser(request.user)):
            raise NotFound(f"API token #{token_id} does not exist")
        return Response(TokenOut(token_revoke(token_id=token_id, actor=access.actor(request))).data)


def _full_superuser(user) -> bool:
    """A superuser signed in, not through a token (whose max_role caps even a superuser)."""
    return user.is_superuser and getattr(user, roles.TOKEN_ATTRIBUTE, None) is None
