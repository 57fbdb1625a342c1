from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def create_lobby(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    Room = apps.get_model("chat", "Room")
    Room.objects.get_or_create(slug="lobby", defaults={"name": "Lobby", "topic": "Say hello."})


class Migration(migrations.Migration):
    dependencies = [("chat", "0001_initial")]
    operations = [migrations.RunPython(create_lobby, migrations.RunPython.noop)]
